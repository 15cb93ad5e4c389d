#include "handler.hpp"

#include <cerrno>

#include "stop.hpp"

namespace fibs {

void fib_handler(Fd client, const ServerOptions& opts) {
    protocol::LineFramer framer;
    std::string out;
    char buf[4096];
    for (;;) {
        if (!wait_readable(client.get())) break;  // the server is stopping
        ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;  // reset by the client: nobody to answer
        bool eof = n == 0;
        framer.feed({buf, static_cast<std::size_t>(n)});
        if (eof) framer.end_input();
        while (auto line = framer.next_line()) protocol::append_reply(out, *line, opts.max_n);
        if (framer.too_long()) out += protocol::kLineTooLong;
        if (!send_all(client.get(), out)) break;
        out.clear();
        if (eof || framer.too_long()) break;
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

}  // namespace fibs
