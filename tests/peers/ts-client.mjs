// Drives `tribune mcp wrap` with the official TypeScript MCP SDK client: lists the tools, then
// makes each call given, and prints one JSON object with what came back.
//
// usage: node ts-client.mjs COMMAND [ARGS...] -- CALLS_JSON
//   CALLS_JSON: [{"name": "echo", "arguments": {...}}, ...]
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const argv = process.argv.slice(2);
const split = argv.lastIndexOf("--");
const [command, ...args] = argv.slice(0, split);
const calls = JSON.parse(argv[split + 1]);

const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "tribune-ts-client-test", version: "0" });
await client.connect(transport);
const out = {
  protocolVersion: transport._protocolVersion ?? null,
  server: client.getServerVersion(),
  tools: (await client.listTools()).tools.map((t) => ({ name: t.name, description: t.description ?? null })),
  calls: [],
};
for (const call of calls) {
  out.calls.push(await client.callTool(call));
}
await client.close();
process.stdout.write(JSON.stringify(out) + "\n");
