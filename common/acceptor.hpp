// Accepting clients without spinning when the process runs out of descriptors (EMFILE), and
// refusing them with one clear line. Used by the servers that serve many clients at once.
#pragma once
#include <string>
#include <string_view>

#include "net.hpp"

namespace fibs {

// Accepts clients from a listening socket, and refuses them cleanly when the server cannot take
// more: out of descriptors (EMFILE) it gives up a spare descriptor for a moment to accept the
// client, tell it kServerFull and close it. Without that the listening socket stays readable and
// the accept loop spins. Each kind of refusal is logged once.
class Acceptor {
public:
    Acceptor(int listener, bool nonblocking);
    // The next client, or an empty Fd with errno set (EAGAIN: nobody is waiting; EMFILE: the
    // client was refused).
    Fd accept(std::string* addr);
    // Sends kServerFull and closes. `why` is logged the first time.
    void refuse(Fd client, std::string_view why);

private:
    int listener_;
    bool nonblocking_;
    Fd spare_;
    std::string said_;
};

}  // namespace fibs
