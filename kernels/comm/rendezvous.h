// A tiny TCP rendezvous for bootstrapping NCCL without MPI: rank 0 serves a small blob (the
// ncclUniqueId) on MASTER_ADDR:MASTER_PORT and every other rank fetches it. This is the
// environment Loom's worker sets for every rank of a job, as torch.distributed's launcher does.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace loom::comm {

struct RendezvousEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // LOCAL_RANK, or rank when unset
  std::string master_addr;
  int master_port = 0;
};

// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. kInvalidArgument names the
// variable that is missing or malformed.
StatusOr<RendezvousEnv> RendezvousEnvFromEnvironment();

// Rank 0 sends `*blob` to every other rank; the others replace `*blob` with what rank 0 sent.
// Rank 0 returns once all world_size - 1 ranks fetched it; the others retry the connection until
// `timeout` (rank 0 may start later). kUnavailable on timeout or a broken connection.
Status TcpBroadcast(const RendezvousEnv& env, std::string* blob,
                    std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace loom::comm
