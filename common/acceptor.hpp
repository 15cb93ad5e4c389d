// Accepting clients without spinning when the process runs out of descriptors (EMFILE), and
// refusing them with one clear line. Used by the servers that serve many clients at once.
#pragma once
#include <string>
#include <string_view>
#include <utility>

#include "net.hpp"
#include "server.hpp"

namespace fibs {

// Tells a client kServerFull and closes it; `why` goes to `log` (once for each why).
void refuse(Fd client, std::string_view why, RefusalLog& log);

// Accepts clients from a listening socket, and refuses them cleanly when the server cannot take
// more: out of descriptors (EMFILE) it gives up a spare descriptor for a moment to accept the
// client, tell it kServerFull and close it. Without that the listening socket stays readable and
// the accept loop spins. Each kind of refusal is logged once.
class Acceptor {
public:
    // `log`: where refusals are said (one for the server: its loops each have an Acceptor).
    Acceptor(int listener, bool nonblocking, RefusalLog& log);
    // The next client, or an empty Fd with errno set:
    //   EAGAIN  nobody is waiting; EINTR: a signal came first (a blocking Acceptor);
    //   EMFILE  out of descriptors: the client was refused; try again, others may be waiting;
    //   ENFILE  out of descriptors and none spare, so nobody could be refused: the client still
    //           waits in the backlog. Trying again at once would spin; wait a moment first.
    Fd accept(std::string* addr);
    // Sends kServerFull and closes. `why` is logged the first time.
    void refuse(Fd client, std::string_view why) { fibs::refuse(std::move(client), why, *log_); }

private:
    int listener_;
    bool nonblocking_;
    Fd spare_;  // a descriptor held back for refusing, empty when it could not be opened
    RefusalLog* log_;
};

}  // namespace fibs
