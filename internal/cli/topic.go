package cli

import "github.com/spf13/cobra"

// newTopicCmd is the `topic` noun: kafka-topics.sh's verbs as subcommands.
func newTopicCmd(g *globals) *cobra.Command {
	cmd := newGroupCmd("topic", "Create, list, describe, alter and delete topics", "topics")
	cmd.AddCommand(
		newTopicCreateCmd(g),
		newTopicListCmd(g),
		newTopicDescribeCmd(g),
		newTopicDeleteCmd(g),
		newTopicAlterConfigCmd(g),
		newTopicAddPartitionsCmd(g),
	)
	return cmd
}
