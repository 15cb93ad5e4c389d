#include "handler.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "net.hpp"
#include "stop.hpp"

namespace fibs {

void fib_handler(const Fd& client, const ServerOptions& opts) {
    protocol::LineFramer framer;
    std::string out;
    std::array<char, 4096> buf;
    bool open = true;
    while (open && !stop_requested()) {
        ssize_t n = ::recv(client.get(), buf.data(), buf.size(), 0);  // blocks until the client sends
        if (n < 0 && errno == EINTR) continue;  // a signal: perhaps Ctrl-C (see stop.hpp)
        if (n < 0) break;  // reset by the client: nobody to answer
        framer.feed({buf.data(), static_cast<std::size_t>(n)});
        if (n == 0) {  // the client is done sending; answer its last line, then close
            framer.end_input();
            open = false;
        }
        while (auto line = framer.next_line()) {
            protocol::Request req = protocol::parse_request(*line, opts.max_n);
            if (req.costly() && client_left(client.get(), out)) break;  // gone: the rest is for nobody
            protocol::append_reply(out, req);
            if (stop_requested()) break;  // Ctrl-C: the rest of a pipelined batch is not computed
        }
        if (framer.too_long()) {
            out += protocol::kLineTooLong;
            open = false;
        }
        if (!blocking_send_all(client.get(), out)) break;  // reset or broken pipe
        out.clear();
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

}  // namespace fibs
