// A long Gloo answer through the official TypeScript MCP client and its Tasks extension (SEP-2663):
// @modelcontextprotocol/client 2.4.0 + @modelcontextprotocol/ext-tasks 0.2.2, over HTTP on 2026-07-28.
//
//   MCP_URL=http://127.0.0.1:PORT/mcp CLIENT_TIMEOUT_MS=5000 node tests/tasks_client/tasks-client.mjs start
//   MCP_URL=... CLIENT_TIMEOUT_MS=5000 REFERENCE='<the handed-off reference>' node tests/tasks_client/tasks-client.mjs resume
//
// start:  calls send_message as a task, with a per-request timeout shorter than the answer takes; calls it again
//         and cancels that one; hands the first off (a serialized task reference) and exits without its answer.
// resume: a new process resumes the task from the reference, polls it to the end and prints the answer.
// Each step prints one JSON line on stdout, which tests/test_tasks_client.py reads.
//
// The first process exits without closing its task session: in ext-tasks 0.2.2, closing the session right
// after handoff() still cancels the handed-off task (TaskExecution.close() cancels any execution whose
// result promise has not settled yet, and detach() leaves it unsettled for a tick).
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { createTaskSessionFromClient, resultFromTaskOutcome, DispatchError } from "@modelcontextprotocol/ext-tasks/client";

const URL_ = process.env.MCP_URL;
const TIMEOUT_MS = Number(process.env.CLIENT_TIMEOUT_MS ?? 5000);
const PROTOCOL = "2026-07-28";
const TASKS = "io.modelcontextprotocol/tasks";
const ENDPOINT = `gloo-mcp-test ${URL_}`;
const clientInfo = { name: "gloo-mcp-tasks-client", version: "1.0.0" };
const clientCapabilities = { extensions: { [TASKS]: {} } };

const say = (event, fields = {}) => console.log(JSON.stringify({ event, ...fields }));

// ext-tasks sends its v2 requests through the host's own dispatcher (the SDK's codecs cannot carry
// resultType "task"): it frames {method, params} with the _meta envelope and names the SEP-2243
// headers (Mcp-Name: taskId for tasks/*); this adds the JSON-RPC id and posts it.
let nextId = 1;
async function rawDispatch(request, options = {}) {
  const { method, params } = request;
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "MCP-Protocol-Version": PROTOCOL,
    "Mcp-Method": method,
    ...(options.context?.headers ?? {}),
  };
  if (method === "tools/call" && !Object.keys(headers).some((h) => h.toLowerCase() === "mcp-name")) {
    headers["Mcp-Name"] = params.name;
  }
  const signals = [options.signal, AbortSignal.timeout(options.context?.requestTimeoutMs ?? TIMEOUT_MS)];
  const id = nextId++;
  let response;
  try {
    response = await fetch(URL_, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id, ...request }),
      signal: AbortSignal.any(signals.filter(Boolean)),
    });
  } catch (error) {
    throw new DispatchError(`POST ${method} failed: ${error.message}`, true, { cause: error });
  }
  const text = await response.text();
  let message;
  if ((response.headers.get("content-type") ?? "").includes("text/event-stream")) {
    for (const line of text.split(/\r?\n/)) {
      if (!line.startsWith("data:")) continue;
      const event = JSON.parse(line.slice(5));
      if (event.id === id && ("result" in event || "error" in event)) message = event;
    }
  } else {
    try { message = JSON.parse(text); } catch { /* no JSON-RPC body */ }
  }
  if (!message) throw new DispatchError(`HTTP ${response.status} without a JSON-RPC response for ${method}`);
  return "error" in message ? { kind: "error", error: message.error } : { kind: "result", result: message.result };
}

async function open() {
  const client = new Client(clientInfo, {
    capabilities: clientCapabilities,
    versionNegotiation: { mode: { pin: PROTOCOL } },
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(URL_)));
  const session = createTaskSessionFromClient(client, {
    endpointId: ENDPOINT,
    rawDispatch,
    v2RequestFraming: { protocolVersion: PROTOCOL, clientInfo, clientCapabilities },
    onError: (error) => say("background-error", { message: error.message }),
  });
  return { client, session };
}

const calls = { requestTimeoutMs: TIMEOUT_MS, task: { preference: "prefer" } };

if (process.argv[2] === "start") {
  const first = await open();
  say("connected", {
    era: first.client.getProtocolEra(),
    tasks: first.client.getServerCapabilities()?.extensions?.[TASKS] ?? null,
  });
  const started = Date.now();
  const long = await first.session.callTool("send_message", { query: "A long answer, please" }, calls);
  say("started", { kind: long.kind, taskId: long.handle?.taskId, ms: Date.now() - started });

  const doomed = await first.session.callTool("send_message", { query: "An answer nobody waits for" }, calls);
  say("started", { kind: doomed.kind, taskId: doomed.handle?.taskId });
  await doomed.cancel();
  const { outcome: cancelled } = await doomed.settle();
  say("cancelled", { taskId: doomed.handle?.taskId, status: cancelled.status });

  let reference;
  await long.handoff((ref) => { reference = ref; });
  say("handed-off", { reference, ms: Date.now() - started });
  process.exit(0);
}

const later = await open();
const reference = JSON.parse(process.env.REFERENCE);
const started = Date.now();
const resumed = await later.session.resumeTask(reference, { requestTimeoutMs: TIMEOUT_MS });
const seen = [];
let polls = 0;
const { outcome } = await resumed.settle({
  onEvent: (event) => {
    if (event.type !== "task") return;
    polls += 1;
    const message = `${event.task.status}: ${event.task.statusMessage ?? ""}`;
    if (!seen.includes(message)) seen.push(message);
  },
});
const result = resultFromTaskOutcome(outcome);
const snapshot = await later.session.task(reference.taskId, { requestTimeoutMs: TIMEOUT_MS }).snapshot();
say("completed", {
  taskId: reference.taskId,
  status: outcome.status,
  ms: Date.now() - started,
  polls,
  statusMessages: seen,
  chatId: result.structuredContent?.chat_id ?? null,
  answer: result.structuredContent?.answer ?? null,
  text: result.content?.[0]?.text ?? null,
  snapshot: { status: snapshot.status, retentionMs: snapshot.retentionMs, pollMs: snapshot.suggestedPollIntervalMs },
});
await later.session.close();
await later.client.close();
