#include "proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

double self_cpu_s() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto sec = [](timeval t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

}  // namespace fibs::bench
