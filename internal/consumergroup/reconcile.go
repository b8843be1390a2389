package consumergroup

// Reconciliation moves a member from its current assignment towards its
// target, as Kafka's CurrentAssignmentBuilder does, keeping the invariant
// that a partition is owned by at most one member at a time:
//   - partitions the member must give up are revoked first: the member stays
//     at its epoch with Assigned = current ∩ target and the rest pending
//     revocation (UNREVOKED_PARTITIONS) until a heartbeat shows it no longer
//     owns them; a member whose heartbeat already shows it does not own them
//     (one rejoining at epoch 0 owns nothing) releases them at once;
//   - then it moves to the target epoch and receives the target partitions
//     no other member holds; the others come as their owners release them
//     (UNRELEASED_PARTITIONS), and the member is STABLE once it has all.

// reconcile advances m; owned is what the member reported owning (nil when
// the heartbeat carried no list). It reports whether m's assignment or
// epoch changed.
func (g *Group) reconcile(m *Member, owned Partitions, ownedReported bool) bool {
	target := g.Target[m.ID]
	if target == nil {
		target = Partitions{}
	}
	switch m.State {
	case StateUnrevokedPartitions:
		if !ownedReported || ownsAny(owned, m.PendingRevocation) {
			return false
		}
	case StateStable:
		if m.Epoch == g.AssignmentEpoch {
			return false
		}
	}
	return g.nextAssignment(m, target, owned, ownedReported)
}

func ownsAny(owned, revoking Partitions) bool {
	for tp := range revoking.each() {
		if owned.has(tp.Topic, tp.Partition) {
			return true
		}
	}
	return false
}

// nextAssignment computes m's next step towards target (see the file
// comment) and applies it, with ownership.
func (g *Group) nextAssignment(m *Member, target, owned Partitions, ownedReported bool) bool {
	kept, revoking, assignable := Partitions{}, Partitions{}, Partitions{}
	unreleased := false
	for tp := range m.Assigned.each() {
		if target.has(tp.Topic, tp.Partition) {
			kept.add(tp.Topic, tp.Partition)
		} else {
			revoking.add(tp.Topic, tp.Partition)
		}
	}
	for tp := range target.each() {
		if m.Assigned.has(tp.Topic, tp.Partition) {
			continue
		}
		if owner, held := g.owners[tp]; held && owner != m.ID {
			unreleased = true
			continue
		}
		assignable.add(tp.Topic, tp.Partition)
	}
	oldAssigned, oldPending := m.Assigned, m.PendingRevocation
	prevEpoch, prevState := m.Epoch, m.State
	switch {
	case revoking.count() > 0 && (!ownedReported || ownsAny(owned, revoking)):
		// Revoke first; nothing new is given until the member has let go.
		// (As Kafka's CurrentAssignmentBuilder: only while the member may
		// still own them. Otherwise a member rejoining at epoch 0, or a
		// static member back from epoch -2, would be told to stay at that
		// epoch, which the client takes for a join or a leave.)
		m.Assigned, m.PendingRevocation = kept, revoking
		m.State = StateUnrevokedPartitions
	default:
		next := kept.clone()
		for tp := range assignable.each() {
			next.add(tp.Topic, tp.Partition)
			m.assignmentEpochs[tp] = g.AssignmentEpoch
		}
		m.Assigned, m.PendingRevocation = next, Partitions{}
		if m.Epoch != g.AssignmentEpoch {
			m.PreviousEpoch, m.Epoch = m.Epoch, g.AssignmentEpoch
		}
		m.State = StateStable
		if unreleased {
			m.State = StateUnreleasedPartitions
		}
	}
	for tp := range m.assignmentEpochs {
		if !m.Assigned.has(tp.Topic, tp.Partition) && !m.PendingRevocation.has(tp.Topic, tp.Partition) {
			delete(m.assignmentEpochs, tp)
		}
	}
	g.setOwnership(m, oldAssigned, oldPending)
	return m.Epoch != prevEpoch || m.State != prevState ||
		!m.Assigned.equal(oldAssigned) || !m.PendingRevocation.equal(oldPending)
}
