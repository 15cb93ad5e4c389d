// Starts a server executable as a child process on --port 0, waits for its readiness line
// ("Listening on HOST:PORT") and stops it again. Used by `fib-bench compare` and by the tests.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fibs {

class ServerProcess {
public:
    // Runs `exe args... --port 0` with stdout and stderr captured. Throws std::runtime_error with
    // what the process printed if it exits or stays silent for `ready_timeout`.
    ServerProcess(const std::string& exe, std::vector<std::string> args,
                  std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
    ~ServerProcess();  // stop(), if still running
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }

    // Waits until the output has a line containing `text` (counting lines already seen, from the
    // `from`-th line on). Returns its index, or nullopt after `timeout`.
    std::optional<std::size_t> wait_for_line(const std::string& text, std::chrono::milliseconds timeout,
                                             std::size_t from = 0);
    std::vector<std::string> lines();

    // SIGTERM, then waits up to `timeout` (SIGKILL after it). Returns the exit code, or 128+signal.
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Waits for the process to exit on its own. nullopt after `timeout` (it is then still running).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

private:
    void read_output(int fd);

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::optional<int> status_;
    std::mutex mu_;
    std::condition_variable changed_;
    std::vector<std::string> lines_;
    bool output_closed_ = false;
    std::thread reader_;
};

// Runs a command to its end (bounded by `timeout`, then SIGKILL) and returns its exit code and
// combined output. For one-shot cases such as "port already in use".
struct Finished {
    int code;
    std::string output;
};
Finished run_to_end(const std::string& exe, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The directory of the running executable: fib-bench finds the servers beside itself.
std::string self_dir();

}  // namespace fibs
