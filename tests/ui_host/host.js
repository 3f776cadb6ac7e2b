// The host side of MCP Apps for the answer card's browser tests: the package's AppBridge
// talks to the card in a sandboxed iframe and records what the card asks the host to do.
// Python (Playwright) starts it with window.startCard(...) and answers tool calls with
// window.answerToolCall(result), a real result from gloo-mcp.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const log = { initialized: false, toolCalls: [], messages: [], links: [], modelContext: [], sizes: [] };
window.hostLog = log;

let pendingToolCall = null;

window.answerToolCall = (result) => {
  const resolve = pendingToolCall;
  pendingToolCall = null;
  resolve(result);
};

window.startCard = async ({ html, theme, width, capabilities, toolInput, toolResult }) => {
  document.body.className = theme;
  const iframe = document.createElement("iframe");
  // No allow-same-origin: the card runs in an opaque origin, as hosts run it. allow-modals
  // lets an injected alert() actually open a dialog, so the tests would see one.
  iframe.setAttribute("sandbox", "allow-scripts allow-modals");
  iframe.title = "Gloo answer card";
  iframe.style.width = `${width}px`;
  iframe.style.height = "120px";
  document.getElementById("frame").replaceChildren(iframe);

  const bridge = new AppBridge(null, { name: "gloo-mcp test host", version: "1.0.0" }, capabilities, {
    hostContext: { theme, platform: "web", displayMode: "inline", containerDimensions: { width } },
  });
  bridge.onsizechange = ({ height }) => {
    log.sizes.push(height);
    if (height) iframe.style.height = `${Math.ceil(height)}px`;
  };
  bridge.oncalltool = (params) => {
    log.toolCalls.push(params);
    return new Promise((resolve) => {
      pendingToolCall = resolve;
    });
  };
  bridge.onmessage = async (params) => {
    log.messages.push(params);
    return {};
  };
  bridge.onopenlink = async (params) => {
    log.links.push(params.url);
    return {};
  };
  bridge.onupdatemodelcontext = async (params) => {
    log.modelContext.push(params);
    return {};
  };
  const initialized = new Promise((resolve) => {
    bridge.oninitialized = () => {
      log.initialized = true;
      resolve();
    };
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
  iframe.srcdoc = html;
  await initialized;
  if (toolInput) await bridge.sendToolInput({ arguments: toolInput });
  await bridge.sendToolResult(toolResult);
  window.bridge = bridge;
};
