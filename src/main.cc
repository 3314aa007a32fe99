// ec2-netcfg: parse the command line, run one command, exit with its status.
#include <unistd.h>

#include "app/app.h"
#include "edge/out.h"

int main(int argc, char** argv) {
  // stderr tied to stdout, as std::cerr to std::cout: a log line (Log flushes each one)
  // first flushes the output made before it, so a shared terminal or file has both in order.
  ec2nc::Out out(STDOUT_FILENO);
  ec2nc::Out err(STDERR_FILENO, &out);
  ec2nc::Options opts;
  std::string error;
  if (!ec2nc::parse_args(argc, argv, &opts, &error)) {
    err << "ec2-netcfg: " << error << "\nTry 'ec2-netcfg --help'.\n";
    return ec2nc::kExitUsage;
  }
  int rc = ec2nc::run(opts, out, err);
  // The exit status is the command's: a failed write of stdout does not change it (as
  // with std::cout before).
  out.flush();
  return rc;
}
