// The metadata source (a --metadata-file capture, or IMDS) and the way to IMDS: which
// endpoint, the wait for a route to it, and the host route that keeps IMDS requests on
// the ENI that answers them for the rest of a run.
#pragma once

#include <vector>

#include "app/context.h"

namespace ec2nc {

/// The metadata source: the --metadata-file capture, or IMDS (endpoint resolved).
int open_source(Context& ctx);
/// Waits (within the deadline) until the kernel has a route to the IMDS endpoint: at
/// boot that is the primary ENI's DHCP address and route. Returns at once when there
/// is one, when the endpoint is not an IP literal, or with --metadata-file.
///
/// Then, when several ENIs have an equally good default route in main (at boot every
/// ENI is still on the distribution's DHCP file, often with one metric for all), the
/// kernel may send IMDS requests, which carry no source address yet, out of an ENI that
/// is not the primary. If the kernel's choice gets no answer, each other ENI is tried
/// through a host route of ec2-netcfg's own for the IMDS address (protocol 236), and the
/// one that answers is kept for the run; restore_imds_path() takes it away again.
/// `links`: the host's links as the run read them (only the main table's routes of the
/// endpoint's family are read besides, and only when IMDS is reached through an ENI).
/// With `may_change` false (a run that only reads, and holds no lock), only the wait.
void prepare_imds_path(Context& ctx, const std::vector<HostLink>& links, bool may_change);
/// Removes the host route prepare_imds_path() added, if any.
void restore_imds_path(Context& ctx);

}  // namespace ec2nc
