// Test helpers: a line client with timeouts, where the built programs are, and what only tests
// need from sockets and processes.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "answer_key.hpp"
#include "net.hpp"

namespace fibs::test {

using namespace std::chrono_literals;

// <build dir>/bin/<name>
std::string bin(const std::string& name);

// Connects (blocking) to host:port. Throws std::system_error on failure.
Fd connect_to(const std::string& host, std::uint16_t port);

// The whole reply a server sends to one line (protocol::append_reply into a fresh string).
std::string reply_to(std::string_view line, unsigned max_n);

// Runs a command to its end (bounded by `timeout`, then SIGKILL) and returns its exit code and
// combined output. For one-shot cases such as "port already in use".
struct Finished {
    int code;
    std::string output;
};
Finished run_to_end(const std::string& exe, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// What one fib(n) costs this thread, in this build (a sanitizer slows it as it slows the servers):
// the least of three runs, in seconds of CPU.
double cpu_of_fib(unsigned n);
// The smallest n from 25 on whose fib(n) costs at least `seconds` here (each n costs 1.618 times
// the one before): a request as slow as a test needs, on every build and machine.
unsigned fib_costing(double seconds);
// Why no request is slow in this build, or nullopt: fib(30) costs next to nothing here (an
// iterative fib, Step 1's exercise 3), so no request keeps a server busy, and a test that needs
// one to catch a server in the middle of its work cannot run. Fib.IsTheSlowRecursionTheLessonsNeed
// fails with this line; each test that needs a slow request is skipped with it.
std::optional<std::string> no_slow_requests();
#define SKIP_WITHOUT_SLOW_REQUESTS() \
    if (auto why_no_slow = ::fibs::test::no_slow_requests()) GTEST_SKIP() << *why_no_slow
// Declares `const unsigned name = fib_costing(seconds)`, after SKIP_WITHOUT_SLOW_REQUESTS.
#define SLOW_REQUEST(name, seconds) \
    SKIP_WITHOUT_SLOW_REQUESTS();   \
    const unsigned name = ::fibs::test::fib_costing(seconds)

// The CPU a process has used (user and system, every thread), in seconds; 0 if it cannot be read.
double cpu_seconds(pid_t pid);
// Waits until `pid` has used `more` seconds of CPU beyond `from` (at most `timeout`): the server
// is computing what it was sent.
bool busy_beyond(pid_t pid, double from, double more, std::chrono::milliseconds timeout = 10s);

// How many threads of `pid` are running or waiting for a core (state R): computing, not waiting.
int running_threads(pid_t pid);
// Waits until no thread of `pid` computes, ten looks in a row (at most `timeout`): it has done
// all it can with what it was sent, and waits.
bool eventually_idle(pid_t pid, std::chrono::milliseconds timeout = 30s);
// Waits until at least `threads` threads of `pid` compute at once (at most `timeout`).
bool computing(pid_t pid, int threads, std::chrono::milliseconds timeout = 10s);

// The server's side of its clients' connections (local port `port`, /proc/net/tcp and tcp6):
// how many are established, the bytes they hold that the server has not read yet, and those it
// has sent that its clients have not taken (their receive buffers are full).
struct ServerSide {
    int established = 0;
    long unread = 0;
    long untaken = 0;
};
ServerSide server_side(std::uint16_t port, std::uint16_t client_port = 0);  // 0: every client's
// Connects to 127.0.0.1:port with a receive buffer of `receive_buffer` bytes, set before the
// connect so that the window the server sees is small: its replies then wait in its memory.
Fd connect_with_small_window(std::uint16_t port, int receive_buffer);
// Waits until at least `clients` are established and the server has read all they sent (at
// most `timeout`): their requests are in the server, queued or being answered.
bool read_everything(std::uint16_t port, int clients, std::chrono::milliseconds timeout = 10s);

// The address space a process has mapped (VmSize in /proc/PID/status), in KiB; -1 if unknown.
long vm_size_kib(pid_t pid);

// Waits until no `sig` is pending for `pid` any more (/proc/PID/status): the process has taken
// it. A second signal of a kind that is still pending would be merged into the first.
bool signal_taken(pid_t pid, int sig, std::chrono::milliseconds timeout = 5s);

// A blocking client (of 127.0.0.1 unless told) with bounded waits on every read.
class Client {
public:
    explicit Client(std::uint16_t port, const std::string& host = "127.0.0.1");
    void send(std::string_view bytes);
    // One reply line without "\n"; nullopt on timeout or when the server closed first.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout = 5s);
    // Everything until the server closes; nullopt if it does not within `timeout`.
    std::optional<std::string> read_to_end(std::chrono::milliseconds timeout = 5s);
    // True if nothing at all arrives within `quiet` (and the connection is still open).
    bool silent_for(std::chrono::milliseconds quiet);
    // Waits (at most `timeout`) until `server` has filled this client's receive buffer and waits
    // for it: the server's side of the connection holds bytes this client has not taken, and no
    // thread of the server computes. The server's sends then block.
    bool backed_up(pid_t server, std::chrono::milliseconds timeout = 10s);
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
