#include "async.hpp"

namespace fibs::loop {

Task drive(Async<> handler, int what) {
    Stack stack{what, handler.h_};
    handler.h_.promise().stack = &stack;
    for (;;) {
        stack.top.resume();  // the innermost coroutine runs until it waits, or the handler ends
        if (handler.h_.done()) break;
        stack.sent = co_yield stack.wait;
    }
    handler.await_resume();  // rethrows what the handler threw: the loop logs it
}

}  // namespace fibs::loop
