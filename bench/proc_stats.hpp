// What /proc says about a process: CPU time and memory. Works for any pid we may read.
#pragma once
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fibs::bench {

struct ProcStats {
    double cpu_s = 0;               // user + system, all threads
    std::uint64_t rss_kib = 0;      // resident now
    std::uint64_t hwm_kib = 0;      // resident at its peak
    int threads = 0;
};

std::optional<ProcStats> read_proc_stats(pid_t pid);

// This process's own CPU time (user + system, all threads), and the calling thread's alone.
double self_cpu_s();
// The CPU (user and system) a getrusage() or wait4() answer holds, in seconds.
double cpu_s_of(const rusage& ru);
double thread_cpu_s();

// One socket of this network namespace, as /proc/net/tcp and tcp6 list it: addresses as the hex
// of their bytes, ports as numbers, the state as the kernel's number (0x01 established, 0x0A
// listening), the bytes sent but not yet taken by the peer (tx) and received but not yet read (rx).
struct TcpSocket {
    std::string local_address, remote_address;
    std::uint16_t local_port = 0, remote_port = 0;
    int state = 0;
    long tx_queue = 0, rx_queue = 0;
    std::uint64_t inode = 0;
};
std::vector<TcpSocket> tcp_sockets();

// The process that listens on host:port (or on a wildcard address and that port): the socket's
// inode from /proc/net/tcp and tcp6, matched against the descriptors in /proc/PID/fd of every
// process this user may read. nullopt when there is none to be found (nobody listens, another
// user's process, another host).
std::optional<pid_t> find_listener(const std::string& host, std::uint16_t port);

}  // namespace fibs::bench
