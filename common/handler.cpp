#include "handler.hpp"

#include <cerrno>

#include "stop.hpp"

namespace fibs {

void fib_handler(int client, const ServerOptions& opts, StopBy stop_by) {
    protocol::LineFramer framer;
    std::string out;
    char buf[4096];
    for (;;) {
        if (stop_by == StopBy::polling && !wait_readable(client)) break;  // the server is stopping
        ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;  // reset by the client: nobody to answer
        bool eof = n == 0;
        framer.feed({buf, static_cast<std::size_t>(n)});
        if (eof) framer.end_input();
        while (auto line = framer.next_line()) protocol::append_reply(out, *line, opts.max_n);
        if (framer.too_long()) out += protocol::kLineTooLong;
        if (!send_all(client, out)) break;
        out.clear();
        if (eof || framer.too_long()) break;
    }
    ::shutdown(client, SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

}  // namespace fibs
