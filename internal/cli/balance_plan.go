package cli

import "github.com/fjordstream/fjord/internal/balance"

// The planner lives in internal/balance, shared with the controller's
// continuous balancer.
type (
	balancePartition = balance.Partition
	balanceInput     = balance.Input
	balanceMove      = balance.Move
	brokerLoad       = balance.Load
)

var (
	planBalance = balance.Plan
	loads       = balance.Loads
)
