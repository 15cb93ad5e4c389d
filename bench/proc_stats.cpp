#include "proc_stats.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "net.hpp"

namespace fibs::bench {

std::optional<ProcStats> read_proc_stats(pid_t pid) {
    std::string base = "/proc/" + std::to_string(pid);
    std::ifstream stat(base + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return std::nullopt;
    auto paren = line.rfind(')');  // the command name may hold spaces and parentheses
    if (paren == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(paren + 2));
    std::vector<std::string> f;  // f[0] is field 3 (state)
    for (std::string w; rest >> w;) f.push_back(w);
    if (f.size() < 18) return std::nullopt;
    ProcStats s;
    double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / tick;  // utime, stime
    s.threads = std::stoi(f[17]);
    std::ifstream status(base + "/status");
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stoull(line.substr(6));
        if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stoull(line.substr(6));
    }
    return s;
}

std::vector<TcpSocket> tcp_sockets() {
    std::vector<TcpSocket> out;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the heading
        // "sl local_address rem_address st tx_queue:rx_queue tr:when retrnsmt uid timeout inode"
        while (std::getline(in, line)) {
            std::istringstream f(line);
            std::string slot, local, remote, state, queues, timer, retr, uid, timeout, inode;
            if (!(f >> slot >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
            auto lc = local.find(':'), rc = remote.find(':'), qc = queues.find(':');
            if (lc == std::string::npos || rc == std::string::npos || qc == std::string::npos) continue;
            TcpSocket s;
            s.local_address = local.substr(0, lc);
            s.remote_address = remote.substr(0, rc);
            s.local_port = static_cast<std::uint16_t>(std::stoul(local.substr(lc + 1), nullptr, 16));
            s.remote_port = static_cast<std::uint16_t>(std::stoul(remote.substr(rc + 1), nullptr, 16));
            s.state = std::stoi(state, nullptr, 16);
            s.tx_queue = std::stol(queues.substr(0, qc), nullptr, 16);
            s.rx_queue = std::stol(queues.substr(qc + 1), nullptr, 16);
            s.inode = std::stoull(inode);
            out.push_back(std::move(s));
        }
    }
    return out;
}

namespace {

// /proc/net/tcp writes an address as the hex of its bytes in memory, 32 bits at a time.
std::string proc_hex(const void* bytes, std::size_t size) {
    std::string out;
    const auto* words = static_cast<const std::uint32_t*>(bytes);
    for (std::size_t i = 0; i < size / 4; ++i) {
        char word[9];
        std::snprintf(word, sizeof word, "%08X", words[i]);
        out += word;
    }
    return out;
}

// The inode of the listening socket on (one of `addresses` or a wildcard):port, or 0.
std::uint64_t listening_inode(const std::vector<std::string>& addresses, std::uint16_t port) {
    for (const TcpSocket& s : tcp_sockets()) {
        if (s.state != 0x0A || s.local_port != port) continue;  // 0A: LISTEN
        bool any = s.local_address.find_first_not_of('0') == std::string::npos;
        if (any || std::find(addresses.begin(), addresses.end(), s.local_address) != addresses.end()) return s.inode;
    }
    return 0;
}

}  // namespace

std::optional<pid_t> find_listener(const std::string& host, std::uint16_t port) {
    try {
        std::vector<std::string> addresses;  // as /proc/net/tcp(6) writes them
        Addresses resolved(host, port, /*passive=*/false, "cannot resolve");
        for (const addrinfo* ai = resolved.first(); ai != nullptr; ai = ai->ai_next) {
            if (ai->ai_family == AF_INET) addresses.push_back(proc_hex(&reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, 4));
            if (ai->ai_family == AF_INET6) addresses.push_back(proc_hex(&reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr, 16));
        }
        std::uint64_t inode = listening_inode(addresses, port);
        if (inode == 0) return std::nullopt;
        const std::string socket = "socket:[" + std::to_string(inode) + "]";
        for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
            std::string name = proc.path().filename();
            if (name.find_first_not_of("0123456789") != std::string::npos) continue;
            std::error_code ec;  // another user's process: its fd/ cannot be read
            for (std::filesystem::directory_iterator fd(proc.path() / "fd", ec), end; !ec && fd != end; fd.increment(ec)) {
                if (std::filesystem::read_symlink(fd->path(), ec) == socket) return static_cast<pid_t>(std::stol(name));
            }
        }
    } catch (const std::exception&) {  // a name that does not resolve, a process gone meanwhile
    }
    return std::nullopt;
}

namespace {

double cpu_s(int who) {
    rusage ru{};
    ::getrusage(who, &ru);
    return cpu_s_of(ru);
}

}  // namespace

double cpu_s_of(const rusage& ru) {
    auto sec = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

double self_cpu_s() { return cpu_s(RUSAGE_SELF); }
double thread_cpu_s() {  // not getrusage: for a thread it read 0 to 4 ms for a 4 ms fib(33) here
    timespec t{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace fibs::bench
