// Child processes for `fib-bench compare` (and the tests): a program with its output captured line
// by line, and a server started on --port 0 that is ready once it has printed "Listening on H:P".
#pragma once
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace fibs {

// A server to start: which executable in <build dir>/bin, with which flags, and a label for
// tables and test names ("loop --workers 2", "loop_workers").
struct ServerKind {
    std::string label;
    std::string exe;
    std::vector<std::string> args;
};

// Runs `exe args...` with stdout and stderr captured into lines.
class Process {
public:
    Process(const std::string& exe, const std::vector<std::string>& args);
    ~Process();  // stop(), if still running
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }

    // Waits until the output has a line containing `text` (from the `from`-th line on). Returns its
    // index, or nullopt after `timeout` or once the output has ended without it.
    std::optional<std::size_t> wait_for_line(const std::string& text, std::chrono::milliseconds timeout,
                                             std::size_t from = 0);
    std::vector<std::string> lines();
    // Stops reading the output, and shrinks its pipe to one page: the process's next lines find
    // the pipe full, as a server's do under `| less` left unscrolled. stop() and wait_exit() read
    // again once the process has ended.
    void stall_output();

    // SIGTERM, then waits up to `timeout` (SIGKILL after it). Returns the exit code, or 128+signal.
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Waits for the process to exit on its own. nullopt after `timeout` (it is then still running).
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    // Once stop() or wait_exit() has seen it end: the CPU it used in all, in seconds (user and
    // system, every thread), as the kernel counted it to the end. nullopt while it runs.
    std::optional<double> cpu_s_at_exit() const { return status_ ? std::optional(cpu_s_) : std::nullopt; }

private:
    void read_output(int fd);
    void unstall();

    pid_t pid_ = -1;
    std::optional<int> status_;
    double cpu_s_ = 0;
    std::mutex mu_;
    std::condition_variable changed_;
    std::vector<std::string> lines_;
    bool output_closed_ = false;
    bool stalled_ = false;
    int out_ = -1;
    std::thread reader_;
};

class ServerProcess : public Process {
public:
    // Runs `exe args... --port 0` and waits for its readiness line. Throws std::runtime_error with
    // what the process printed if it exits or stays silent for `ready_timeout`.
    ServerProcess(const std::string& exe, const std::vector<std::string>& args,
                  std::chrono::milliseconds ready_timeout = std::chrono::seconds(10));
    std::uint16_t port() const { return port_; }

private:
    std::uint16_t port_ = 0;
};

// The directory of the running executable: fib-bench finds the servers beside itself.
std::string self_dir();

}  // namespace fibs
