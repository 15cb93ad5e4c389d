// How many clients are served at once, counted so that no way a handler ends can miss one.
#pragma once
#include <atomic>
#include <optional>
#include <utility>

namespace fibs::loop {

// The clients served at once. A Seat is one of them: taken when the client is accepted, given back
// when the Seat is destroyed. The handler takes it as a parameter, so it lives in the handler's
// frame and is given back when the frame is freed, however the task ends, even before it ran.
class Seats {
public:
    class Seat {
    public:
        Seat(Seat&& other) noexcept : seats_(std::exchange(other.seats_, nullptr)) {}
        ~Seat() {
            if (seats_ != nullptr) --seats_->taken_;
        }

    private:
        friend class Seats;
        explicit Seat(Seats* seats) : seats_(seats) {}
        Seats* seats_;
    };

    explicit Seats(int max) : max_(max) {}
    std::optional<Seat> take() {  // nothing when all are taken
        if (++taken_ > max_) {
            --taken_;
            return std::nullopt;
        }
        return Seat(this);
    }
    int taken() const { return taken_; }

private:
    std::atomic<int> taken_{0};
    const int max_;
};
using Seat = Seats::Seat;

}  // namespace fibs::loop
