// The servers the end-to-end suites run against: every model, and the loop with each backend.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "server_process.hpp"
#include "support.hpp"

namespace fibs::test {

struct ServerKind {
    std::string label;  // test name suffix
    std::string exe;    // executable in <build dir>/bin
    std::vector<std::string> args;
};

inline void PrintTo(const ServerKind& kind, std::ostream* os) { *os << kind.label; }

// Every server model (and every loop backend). Grows as the steps land.
std::vector<ServerKind> all_servers();
// The ones that serve many clients at once: all but the blocking server.
std::vector<ServerKind> concurrent_servers();

inline std::unique_ptr<ServerProcess> start(const ServerKind& kind, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = kind.args;
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(bin(kind.exe), args);
}

inline std::string label_of(const testing::TestParamInfo<ServerKind>& info) { return info.param.label; }

}  // namespace fibs::test
