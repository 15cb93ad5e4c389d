// Adding up what the client threads measured.
#include "load.hpp"

namespace fibs::bench {

void ClassStats::merge(const ClassStats& o) {
    clients += o.clients;
    served += o.served;
    replies += o.replies;
    latency.merge(o.latency);
    latency_uncorrected.merge(o.latency_uncorrected);
    first_reply.merge(o.first_reply);
    if (windows.size() < o.windows.size()) windows.resize(o.windows.size());
    for (std::size_t i = 0; i < o.windows.size(); ++i) windows[i].merge(o.windows[i]);
}

void Errors::merge(const Errors& o) {
    wrong += o.wrong;
    error_reply += o.error_reply;
    malformed += o.malformed;
    reset += o.reset;
    closed += o.closed;
    timeout += o.timeout;
    unanswered += o.unanswered;
    idle_closed += o.idle_closed;
    if (first_error.empty()) first_error = o.first_error;
}

void Connections::merge(const Connections& o) {
    requested += o.requested;
    established += o.established;
    refused += o.refused;
    refused_by_server += o.refused_by_server;
    timed_out += o.timed_out;
    failed += o.failed;
}

double LoadResult::per_reply_us(double cpu_s) const {
    auto replies = main.replies + hog.replies;
    return replies ? cpu_s / static_cast<double>(replies) * 1e6 : 0;
}

}  // namespace fibs::bench
