// Step 4: Step 1's fib_handler (common/handler.cpp) once more, on Step 3's loop, with co_await
// where it would block. The waits are awaitables (async.hpp), and what Step 3 wrote out inline, the
// send loop, the turn and the offload, are coroutines it awaits. `fib-loop --handler await`.
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <string>
#include <string_view>

#include "async.hpp"
#include "context.hpp"
#include "conversation.hpp"

namespace fibs::loop {

namespace {

// One request: its turn, then fib(n), here or (with --workers) on a worker thread.
Async<> answer(Conversation& talk, const protocol::Request& req, Turn& turn, const Fd& client, Context& ctx) {
    co_await turn;  // a few requests per turn, then the others
    if (req.ok() && ctx.shared.workers.takes(req.n)) {
        talk.answer(co_await on_worker(ctx.shared.workers, ctx.loop, req.n, client.get()));  // the talk's fix
    } else {
        talk.answer(req);  // fib(n) right here: everyone waits for it
    }
}

// Everything in `out` goes out, waiting wherever a send would block. False: reset or broken pipe.
Async<bool> async_send_all(const Fd& client, std::string_view out) {
    for (std::size_t sent = 0; sent < out.size();) {
        ssize_t s = ::send(client.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
        if (s >= 0) {
            sent += static_cast<std::size_t>(s);  // a partial send goes on from here, not from 0
        } else if (errno == EAGAIN) {
            co_await writable(client);
        } else if (errno != EINTR) {
            co_return false;
        }
    }
    co_return true;
}

Async<> fib_handler(Client client, Context& ctx) {
    const Options& opts = ctx.shared.opts;
    Conversation talk(client.get(), opts.max_n);  // requests in, replies out, by the protocol's rules
    ReadBuffer& buf = ctx.buf;  // read and heard before the next wait: one per thread, for all
    while (talk.open()) {
        ssize_t n = co_await async_recv(client, buf);  // waits until the client sends, then reads
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;  // not readable after all
        if (n < 0) break;  // reset by the client: nobody to answer
        talk.heard({buf.data(), static_cast<std::size_t>(n)});  // 0 bytes: the client is done sending
        for (Turn turn; auto req = talk.next();) co_await answer(talk, *req, turn, client, ctx);
        if (!co_await async_send_all(client, talk.replies())) break;  // reset or broken pipe
        talk.replies().clear();
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

}  // namespace

// The handler's frame (and its client's seat) is owned by drive()'s frame from the start: freed
// with the Task, however it ends, even before it ran.
Task await_handler(Client client, Context& ctx) {
    int what = client.get();
    return drive(fib_handler(std::move(client), ctx), what);
}

}  // namespace fibs::loop
