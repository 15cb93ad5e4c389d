// Step 1 and Step 2 on the blocking server: what only it does.
#include <gtest/gtest.h>

#include "servers.hpp"

namespace fibs::test {
namespace {

// Step 2: while one client stays connected, a second one gets nothing; when the first leaves,
// the second is answered.
TEST(Blocking, SecondClientWaitsUntilTheFirstLeaves) {
    ServerProcess server(bin("fib-blocking"), {});
    auto first = std::make_unique<Client>(server.port());
    first->send("10\n");
    ASSERT_EQ(first->read_line(), "55");

    Client second(server.port());  // the kernel completes the connect; nobody accepts it yet
    second.send("12\n");
    EXPECT_TRUE(second.silent_for(300ms));

    first.reset();  // the first client leaves
    EXPECT_EQ(second.read_line(), "144");
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

TEST(Blocking, PortInUseGivesAClearErrorAndExitCode1) {
    Fd taken = listen_on("127.0.0.1", 0);
    std::string port = std::to_string(local_port(taken.get()));
    Finished run = run_to_end(bin("fib-blocking"), {"--port", port});
    EXPECT_EQ(run.code, 1);
    EXPECT_EQ(run.output, "error: cannot listen on 127.0.0.1:" + port + ": Address already in use\n");
}

TEST(Blocking, MaxNAbove92IsRejected) {
    Finished run = run_to_end(bin("fib-blocking"), {"--max-n", "93"});
    EXPECT_NE(run.code, 0);
    EXPECT_NE(run.output.find("--max-n"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace fibs::test
