#include "handler.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "conversation.hpp"
#include "net.hpp"
#include "stop.hpp"

namespace fibs {

void fib_handler(const Fd& client, const ServerOptions& opts) {
    Conversation talk(client.get(), opts.max_n);  // requests in, replies out, by the protocol's rules
    std::array<char, 4096> buf;
    while (talk.open() && !stop_requested()) {
        ssize_t n = ::recv(client.get(), buf.data(), buf.size(), 0);  // blocks until the client sends
        if (n < 0 && errno == EINTR) continue;  // a signal: perhaps Ctrl-C (see stop.hpp)
        if (n < 0) break;  // reset by the client: nobody to answer
        talk.heard({buf.data(), static_cast<std::size_t>(n)});  // 0 bytes: the client is done sending
        while (auto req = talk.next()) talk.answer(*req);  // fib(n), or the error line
        if (!blocking_send_all(client.get(), talk.replies())) break;  // reset or broken pipe
        talk.replies().clear();
    }
    ::shutdown(client.get(), SHUT_WR);  // replies already sent go out before the close
    log_closed(opts);
}

}  // namespace fibs
