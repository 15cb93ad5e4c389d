#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <thread>

#include "net.hpp"
#include "support.hpp"

namespace {

void on_alarm(int) {}

}  // namespace

// A tiny send buffer forces many partial sends; a 1 ms interval timer without SA_RESTART makes
// send() fail with EINTR again and again. Every byte must still arrive, in order.
TEST(SendAll, SurvivesPartialSendsAndEintr) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fibs::Fd writer(sv[0]), reader(sv[1]);
    int tiny = 1024;
    ::setsockopt(writer.get(), SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    ::setsockopt(reader.get(), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny);

    std::string data(2 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);

    std::string received;
    std::thread slow_reader([&] {
        sigset_t alarm;  // every alarm goes to the sender, whose send() it must interrupt
        sigemptyset(&alarm);
        sigaddset(&alarm, SIGALRM);
        ::pthread_sigmask(SIG_BLOCK, &alarm, nullptr);
        char buf[700];
        for (;;) {
            ssize_t n = ::read(reader.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            received.append(buf, static_cast<std::size_t>(n));
        }
    });

    struct sigaction sa {}, old {};
    sa.sa_handler = on_alarm;  // no SA_RESTART: blocked send() returns EINTR
    ::sigaction(SIGALRM, &sa, &old);
    itimerval every_ms{{0, 1000}, {0, 1000}}, off{};
    ::setitimer(ITIMER_REAL, &every_ms, nullptr);
    bool ok = fibs::blocking_send_all(writer.get(), data);
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigaction(SIGALRM, &old, nullptr);

    writer.reset();
    slow_reader.join();
    EXPECT_TRUE(ok);
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
}

TEST(SendAll, ReportsAClosedPeerWithoutSigpipe) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fibs::Fd writer(sv[0]);
    ::close(sv[1]);
    EXPECT_FALSE(fibs::blocking_send_all(writer.get(), "55\n"));  // would die of SIGPIPE without MSG_NOSIGNAL
}

TEST(Fd, ClosesOnceAndMoves) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fibs::Fd a(sv[0]);
    fibs::Fd peer(sv[1]);
    fibs::Fd b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), sv[0]);
    b.reset();
    char c;
    EXPECT_EQ(::read(peer.get(), &c, 1), 0);  // the peer sees the close
}

TEST(Listen, PortZeroGivesARealPortAndAPrintableAddress) {
    fibs::Fd sock = fibs::listen_on("127.0.0.1", 0);
    EXPECT_NE(fibs::local_port(sock.get()), 0);
    EXPECT_EQ(fibs::local_address(sock.get()), "127.0.0.1:" + std::to_string(fibs::local_port(sock.get())));
}

TEST(Listen, PortInUseSaysSoClearly) {
    fibs::Fd first = fibs::listen_on("127.0.0.1", 0);
    auto port = fibs::local_port(first.get());
    try {
        fibs::listen_on("127.0.0.1", port);
        FAIL() << "a second listen on the same port succeeded";
    } catch (const std::system_error& e) {
        EXPECT_EQ(std::string(e.what()), "cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use");
    }
}
