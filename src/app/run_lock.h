// The run lock: ROOT/run/ec2-netcfg/lock, held by one run at a time.
#pragma once

#include <string>

#include "app/context.h"

namespace ec2nc {

/// Holds ROOT/run/ec2-netcfg/lock for the life of the object (serializes runs). Waiting
/// for it counts against the run's one deadline.
class RunLock {
 public:
  bool acquire(const std::string& dir, Clock::time_point deadline, std::string* error);
  ~RunLock();

 private:
  int fd_ = -1;
};

/// Takes the lock or logs why not (exit status to return, 0 when held).
int take_lock(Context& ctx, RunLock& lock);

}  // namespace ec2nc
