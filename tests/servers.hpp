// The servers the end-to-end suites run against: every model, and the loop with each backend.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "server_process.hpp"
#include "support.hpp"

namespace fibs {
inline void PrintTo(const ServerKind& kind, std::ostream* os) { *os << kind.label; }  // found by ADL
}  // namespace fibs

namespace fibs::test {

// Built with AddressSanitizer or ThreadSanitizer: their runtimes cannot run under some limits.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// Built with ThreadSanitizer, which holds a signal back until the thread that takes it next calls
// the C library: a thread computing fib takes its signal when the fib is done.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kThreadSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kThreadSanitized = true;
#else
inline constexpr bool kThreadSanitized = false;
#endif
#else
inline constexpr bool kThreadSanitized = false;
#endif

// Every server model (and every loop backend). Grows as the steps land. Under a sanitizer, six
// kinds that reach each part of the servers' code at least once (servers.cpp says how).
std::vector<ServerKind> all_servers();
// The ones that serve many clients at once: all but the blocking server.
std::vector<ServerKind> concurrent_servers();

// Why this kind of server cannot run on this machine ("io_uring is not available here (...)"),
// or nullopt. A test of such a kind is skipped with that reason, never passed silently.
std::optional<std::string> unavailable(const ServerKind& kind);
#define SKIP_IF_UNAVAILABLE(kind) \
    if (auto why_unavailable = ::fibs::test::unavailable(kind)) GTEST_SKIP() << *why_unavailable

inline std::unique_ptr<ServerProcess> start(const ServerKind& kind, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = kind.args;
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<ServerProcess>(bin(kind.exe), args);
}

// What a server printed, for failure messages (a sanitizer report ends up here).
inline std::string dump(ServerProcess& server) {
    std::string out = "\nserver output:\n";
    for (const auto& l : server.lines()) out += "  | " + l + "\n";
    return out;
}

inline std::string label_of(const testing::TestParamInfo<ServerKind>& info) { return info.param.label; }

// One server per test, of each kind in all_servers(). After every test a fresh client must still be
// served, and SIGTERM must end the server with exit code 0, whatever the test's client did.
class EveryServer : public testing::TestWithParam<ServerKind> {
protected:
    void SetUp() override {
        SKIP_IF_UNAVAILABLE(GetParam());
        server = start(GetParam());
    }
    void TearDown() override {
        if (!server) return;  // the test stopped it itself
        Client fresh(server->port());
        fresh.send("20\n");
        EXPECT_EQ(fresh.read_line(), "6765") << "a fresh client is no longer served";
        EXPECT_EQ(server->stop(), 0) << dump(*server);
    }
    std::unique_ptr<ServerProcess> server;
};

}  // namespace fibs::test
