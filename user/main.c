// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * graysplit's main: everything goes to the command line (cli/), and
 * `graysplit agent ...` on to the agent's entry point (agent/), which is
 * handed to the CLI here. The CLI finds the command: global options come
 * before it and it may be a unique prefix ("graysplit --pin-dir D ag"), so
 * only the CLI's parser knows which one it is, and it checks privileges and
 * enters --netns for the agent as for every command. This is the one file
 * that sees both folders; neither includes the other.
 */
#include "agent.h"
#include "cli.h"

int main(int argc, char **argv)
{
	return gs_cli_main(argc, argv, gs_agent_run);
}
