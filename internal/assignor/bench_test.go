package assignor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchGroup builds members x topics (partitions split evenly over the
// topics). Heterogeneous members subscribe to a seeded random half of the
// topics (at least one).
func benchGroup(members, topicCount, partitions int, heterogeneous bool) ([]Member, map[TopicID]Topic) {
	rng := rand.New(rand.NewPCG(1, 2))
	topics := make(map[TopicID]Topic, topicCount)
	ids := make([]TopicID, topicCount)
	for i := range ids {
		var id TopicID
		id[0], id[1] = byte(i>>8), byte(i)
		id[15] = 0xaa
		ids[i] = id
		topics[id] = Topic{ID: id, Name: fmt.Sprintf("topic-%d", i), Partitions: int32(partitions / topicCount)}
	}
	ms := make([]Member, members)
	for i := range ms {
		ms[i] = Member{ID: fmt.Sprintf("member-%05d", i)}
		if !heterogeneous {
			ms[i].Topics = ids
			continue
		}
		for _, id := range ids {
			if rng.IntN(2) == 0 {
				ms[i].Topics = append(ms[i].Topics, id)
			}
		}
		if len(ms[i].Topics) == 0 {
			ms[i].Topics = ids[rng.IntN(len(ids)):][:1]
		}
	}
	return ms, topics
}

// benchAssign times a on three shapes: a fresh group, a settled group one
// member joins, and (heterogeneous only interesting) a group whose first
// member holds every partition it subscribes to.
func benchAssign(b *testing.B, a Assignor, heterogeneous bool) {
	members, topics := benchGroup(1000, 10, 10000, heterogeneous)
	settled := feedBack(members, a.Assign(members, topics))
	joined := append(settled[:len(settled):len(settled)], Member{ID: "member-joiner", Topics: members[0].Topics})
	skewed := append([]Member(nil), members...)
	skewed[0].Current = map[TopicID][]int32{}
	for _, id := range skewed[0].Topics {
		for p := int32(0); p < topics[id].Partitions; p++ {
			skewed[0].Current[id] = append(skewed[0].Current[id], p)
		}
	}
	for _, bc := range []struct {
		name    string
		members []Member
	}{{"fresh", members}, {"join", joined}, {"skewed", skewed}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Assign(bc.members, topics)
			}
		})
	}
}

// BenchmarkUniform_Homogeneous: 1,000 members, 10 topics, 10,000 partitions.
func BenchmarkUniform_Homogeneous(b *testing.B) { benchAssign(b, Uniform(), false) }

// BenchmarkUniform_Heterogeneous: as above, each member on a random half of
// the topics.
func BenchmarkUniform_Heterogeneous(b *testing.B) { benchAssign(b, Uniform(), true) }

// BenchmarkRange_Homogeneous: 1,000 members, 10 topics, 10,000 partitions.
func BenchmarkRange_Homogeneous(b *testing.B) { benchAssign(b, Range(), false) }

// BenchmarkRange_Heterogeneous: as above, each member on a random half of
// the topics.
func BenchmarkRange_Heterogeneous(b *testing.B) { benchAssign(b, Range(), true) }
