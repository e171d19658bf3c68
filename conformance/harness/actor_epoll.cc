// Actor, "epoll" (scenario.h): registrations are named, and epoll_wait records events by name.
#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "actor_util.h"
#include "context.h"
#include "names.h"
#include "observation.h"
#include "platform.h"
#include "scenario.h"

namespace afunix {

#if AFUNIX_HAVE_EPOLL
using util::outcome;

namespace {

// What each epoll registration of this process is called, by its data.u64 index.
std::vector<std::string>& epoll_labels() {
  static std::vector<std::string> labels;
  return labels;
}

}  // namespace

int Actor::epoll_create() {
  platform::require(platform::Feature::Epoll);
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  int err = errno;
  record(Obs("epoll_create").str("result", outcome(ep, err)).encode());
  return ep;
}

int Actor::epoll_add(int ep, int fd, unsigned events, const std::string& label) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = epoll_labels().size();
  epoll_labels().push_back(label);
  int r = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  int err = errno;
  record(Obs("epoll_add")
             .str("fd", label)
             .str("events", epoll_events_name(events))
             .str("result", outcome(r, err))
             .encode());
  return r;
}

int Actor::epoll_wait(int ep, Wait wait) {
  epoll_event evs[16];
  int timeout = wait == Wait::Now ? 0 : context::event_timeout_ms();
  int r;
  do {
    r = ::epoll_wait(ep, evs, 16, timeout);
  } while (r < 0 && errno == EINTR);
  int err = errno;
  Obs o("epoll_wait");
  o.str("wait", wait == Wait::Now ? "now" : "until-ready");
  if (r < 0) {
    o.str("result", errno_name(err));
  } else {
    o.num("result", r);
    std::map<std::string, std::string> ready;  // by label: the order of a ready list is not the story
    for (int i = 0; i < r; ++i) {
      size_t idx = static_cast<size_t>(evs[i].data.u64);
      ready[idx < epoll_labels().size() ? epoll_labels()[idx] : "?"] = epoll_events_name(evs[i].events);
    }
    Obs e = Obs::object();
    for (auto& [label, names] : ready) e.str(label, names);
    o.json("events", e.encode());
  }
  record(o.encode());
  return r;
}

#else
// No epoll here: a scenario that uses it is UNSUPPORTED naming it.
int Actor::epoll_create() {
  platform::require(platform::Feature::Epoll);
  return -1;
}
int Actor::epoll_add(int, int, unsigned, const std::string&) {
  platform::require(platform::Feature::Epoll);
  return -1;
}
int Actor::epoll_wait(int, Wait) {
  platform::require(platform::Feature::Epoll);
  return -1;
}
#endif

}  // namespace afunix
