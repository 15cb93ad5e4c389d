// Test helpers: a line client with timeouts, and where the built programs are.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net.hpp"

namespace fibs::test {

using namespace std::chrono_literals;

// <build dir>/bin/<name>
std::string bin(const std::string& name);

// fib(n) in decimal, computed by iteration: an answer key independent of the servers' recursion.
std::string fib_text(unsigned n);

// A blocking client for 127.0.0.1 with bounded waits on every read.
class Client {
public:
    explicit Client(std::uint16_t port);
    void send(std::string_view bytes);
    // One reply line without "\n"; nullopt on timeout or when the server closed first.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = 5s);
    // Everything until the server closes; nullopt if it does not within `timeout`.
    std::optional<std::string> read_to_end(std::chrono::milliseconds timeout = 5s);
    // True if nothing at all arrives within `quiet` (and the connection is still open).
    bool silent_for(std::chrono::milliseconds quiet);
    void shutdown_write();
    // Close with SO_LINGER 0: the server sees a reset (RST), not an orderly close.
    void reset();
    int fd() const { return fd_.get(); }

private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    Fd fd_;
    std::string buffered_;
    bool eof_ = false;
};

}  // namespace fibs::test
