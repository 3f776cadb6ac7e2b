// gloo-mcp's answer card: one Gloo answer (or a conversation) as an MCP App.
//
// Everything shown comes from Gloo and is untrusted: it only ever reaches the page as
// text nodes (textContent / append of strings), never as markup. Links are http(s) only
// and are opened by the host (ui/open-link), never by navigating this frame.
import { App, applyDocumentTheme, applyHostStyleVariables } from "@modelcontextprotocol/ext-apps/app-with-deps";

const card = document.getElementById("card");
const app = new App({ name: "gloo-mcp answer card", version: "1.0.0" }, {});

/** What the card shows: the newest exchange, earlier turns, and how to continue. */
let view = null;
/** The question of the call this card belongs to (tools' results do not repeat it). */
let askedQuestion = null;
let busy = false;

// --- safe DOM building --------------------------------------------------------------

function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child !== null && child !== undefined && child !== "") node.append(child); // strings become text nodes
  }
  return node;
}

function text(value) {
  return typeof value === "string" ? value : "";
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

/** The URL if it is an absolute http(s) address, else null: nothing else is ever linked. */
function webUrl(raw) {
  if (typeof raw !== "string") return null;
  try {
    const url = new URL(raw.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function hostName(url) {
  try {
    return new URL(url).hostname.replace(/^www\./, "");
  } catch {
    return "";
  }
}

// --- from tool results to a view ----------------------------------------------------

function sourcesOf(value) {
  return list(value)
    .filter((s) => s && typeof s === "object")
    .map((s) => ({
      title: text(s.title),
      url: webUrl(s.url),
      rawUrl: text(s.url),
      publisher: text(s.publisher),
      snippet: text(s.snippet),
    }));
}

function suggestionsOf(value) {
  return list(value).filter((s) => typeof s === "string" && s.trim() !== "");
}

function replyView(reply, question) {
  return {
    chatId: text(reply.chat_id),
    title: null,
    question: question,
    answer: text(reply.answer),
    sources: sourcesOf(reply.sources),
    suggestions: suggestionsOf(reply.suggestions),
    earlier: [],
    olderMessages: false,
  };
}

function historyView(history) {
  const messages = list(history.messages).filter((m) => m && typeof m === "object");
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === "assistant") {
      last = i;
      break;
    }
  }
  let start = last;
  if (last > 0 && messages[last - 1].role === "user") start = last - 1;
  if (last < 0) start = messages.length; // no answer yet: every turn is an earlier one
  const answer = last >= 0 ? messages[last] : null;
  return {
    chatId: text(history.chat_id),
    title: text(history.title) || null,
    question: start < last ? text(messages[start].content) : null,
    answer: answer ? text(answer.content) : null,
    sources: answer ? sourcesOf(answer.sources) : [],
    suggestions: answer ? suggestionsOf(answer.suggestions) : [],
    earlier: messages.slice(0, start).map(turnOf),
    olderMessages: history.has_more === true,
  };
}

function turnOf(message) {
  return { role: text(message.role), content: text(message.content), sources: sourcesOf(message.sources) };
}

function textOf(result) {
  return list(result && result.content)
    .filter((block) => block && block.type === "text")
    .map((block) => text(block.text))
    .join("\n");
}

// --- rendering ----------------------------------------------------------------------

function paragraphs(value, className) {
  const box = el("div", className);
  const parts = value.split(/\n\s*\n/).filter((p) => p.trim() !== "");
  for (const part of parts) box.append(el("p", null, part.trim()));
  return box;
}

function sourceCard(source, number) {
  const label = source.title || source.rawUrl || "Untitled source";
  let title;
  if (source.url) {
    const link = el("a", null, label);
    link.setAttribute("href", source.url);
    link.setAttribute("rel", "noopener noreferrer");
    link.addEventListener("click", (event) => {
      event.preventDefault(); // the host opens it, or nothing does: never this frame
      openLink(source.url);
    });
    link.addEventListener("auxclick", (event) => event.preventDefault());
    title = el("p", "title", link);
  } else {
    title = el("p", "title", label);
  }
  const meta = [source.publisher, source.url ? hostName(source.url) : ""].filter(Boolean).join(" · ");
  const body = el(
    "div",
    "body",
    title,
    meta ? el("p", "meta", meta) : null,
    source.snippet ? el("p", "snippet", source.snippet) : null,
  );
  const badge = el("span", "number", String(number));
  badge.setAttribute("aria-hidden", "true");
  return el("li", "source", badge, body);
}

function earlierTurns(turns) {
  const details = el("details", "earlier");
  const noun = turns.length === 1 ? "turn" : "turns";
  details.append(el("summary", null, `Earlier in this conversation (${turns.length} ${noun})`));
  const items = el("ol", "turns");
  for (const turn of turns) {
    const who = { user: "You", assistant: "Gloo" }[turn.role] || turn.role || "Message";
    const item = el("li", "turn", el("p", "who", who), el("p", "text", turn.content || "(empty)"));
    if (turn.sources.length) {
      const cited = turn.sources.map((s, i) => `[${i + 1}] ${s.title || s.rawUrl || "Untitled source"}`).join("  ");
      item.append(el("p", "cited", `Sources: ${cited}`));
    }
    items.append(item);
  }
  details.append(items);
  return details;
}

function render() {
  const parts = [];
  const eyebrow = el("p", "eyebrow", el("span", "mark", "G"), view.title ? `Gloo AI · ${view.title}` : "Gloo AI");
  parts.push(eyebrow);
  if (view.earlier.length) parts.push(earlierTurns(view.earlier));
  if (view.olderMessages) {
    parts.push(el("p", "footnote", "Older messages are not shown here; get_chat_history reads further back."));
  }
  if (view.question) parts.push(el("p", "question", view.question));
  if (view.answer !== null) {
    parts.push(view.answer.trim() ? paragraphs(view.answer, "answer") : el("p", "status", "Gloo returned an empty answer."));
  }
  if (view.sources.length) {
    const items = el("ol", "sources");
    view.sources.forEach((source, i) => items.append(sourceCard(source, i + 1)));
    parts.push(el("section", "sources-section", el("h2", null, "Sources"), items));
  }
  if (view.suggestions.length && view.chatId) {
    const buttons = el("div", "followups");
    for (const suggestion of view.suggestions) {
      const button = el("button", null, suggestion);
      button.type = "button";
      button.disabled = busy;
      button.addEventListener("click", () => askFollowUp(suggestion));
      buttons.append(button);
    }
    parts.push(el("section", "followups-section", el("h2", null, "Ask next"), buttons));
  }
  parts.push(el("p", "status", ""));
  card.replaceChildren(...parts);
  card.setAttribute("aria-busy", busy ? "true" : "false");
}

function setStatus(message, isError = false) {
  let status = card.querySelector(".status:last-child");
  if (!status) {
    status = el("p", "status");
    card.append(status);
  }
  status.textContent = message;
  status.classList.toggle("error", isError);
  status.setAttribute("role", isError ? "alert" : "status");
}

function setBusy(value) {
  busy = value;
  card.setAttribute("aria-busy", value ? "true" : "false");
  for (const button of card.querySelectorAll(".followups button")) button.disabled = value;
}

function showResult(result) {
  const structured = result && result.structuredContent;
  if (result && result.isError) {
    card.replaceChildren(el("p", "status error", textOf(result) || "Gloo could not answer."));
    return;
  }
  if (structured && Array.isArray(structured.messages)) {
    view = historyView(structured);
  } else if (structured && typeof structured.answer === "string") {
    view = replyView(structured, askedQuestion);
  } else {
    card.replaceChildren(el("div", "answer", el("p", null, textOf(result))));
    return;
  }
  render();
}

// --- talking to the host ------------------------------------------------------------

async function openLink(url) {
  try {
    const result = await app.openLink({ url });
    if (result && result.isError) setStatus(`The host did not open the link: ${url}`, true);
  } catch {
    setStatus(`The link could not be opened: ${url}`, true);
  }
}

/** A follow-up continues this very conversation: continue_chat with the card's chat_id. */
async function askFollowUp(question) {
  if (busy || !view) return;
  const capabilities = app.getHostCapabilities() || {};
  setBusy(true);
  setStatus(`Asking Gloo: “${question}”…`);
  try {
    if (capabilities.serverTools) {
      const result = await app.callServerTool({
        name: "continue_chat",
        arguments: { chat_id: view.chatId, query: question },
      });
      const reply = result && result.structuredContent;
      if (result.isError || !reply || typeof reply.answer !== "string") {
        setStatus(textOf(result) || "Gloo could not answer the follow-up.", true);
        return;
      }
      const earlier = [...view.earlier];
      if (view.question) earlier.push({ role: "user", content: view.question, sources: [] });
      if (view.answer !== null) earlier.push({ role: "assistant", content: view.answer, sources: view.sources });
      view = { ...replyView(reply, question), title: view.title, earlier, olderMessages: view.olderMessages };
      busy = false;
      render();
      tellModel(question, textOf(result));
    } else if (capabilities.message) {
      await app.sendMessage({ role: "user", content: [{ type: "text", text: question }] });
      setStatus("Sent as your next message.");
    } else {
      setStatus("This host cannot send follow-ups from the card; ask it in the chat.", true);
    }
  } catch (error) {
    setStatus(`The follow-up could not be sent: ${error && error.message ? error.message : error}`, true);
  } finally {
    setBusy(false);
  }
}

/** Keep the model in step with a turn it did not ask for (hosts that accept context updates). */
function tellModel(question, markdown) {
  const capabilities = app.getHostCapabilities() || {};
  if (!capabilities.updateModelContext) return;
  const note = `From the Gloo answer card, the user asked a follow-up in chat ${view.chatId}: "${question}". Gloo's reply:\n\n${markdown}`;
  app.updateModelContext({ content: [{ type: "text", text: note }] }).catch(() => {});
}

function applyHostContext(context) {
  if (!context) return;
  if (context.theme === "light" || context.theme === "dark") applyDocumentTheme(context.theme);
  if (context.styles && context.styles.variables) applyHostStyleVariables(context.styles.variables);
}

app.ontoolinput = (params) => {
  const query = params && params.arguments && params.arguments.query;
  if (typeof query === "string" && query.trim()) {
    askedQuestion = query.trim();
    if (!view) card.replaceChildren(el("p", "question", askedQuestion), el("p", "status", "Gloo is answering…"));
  }
};
app.ontoolresult = showResult;
app.ontoolcancelled = () => {
  if (!view) card.replaceChildren(el("p", "status", "The call was cancelled."));
};
app.onhostcontextchanged = applyHostContext;

app
  .connect()
  .then(() => applyHostContext(app.getHostContext()))
  .catch((error) => {
    card.replaceChildren(el("p", "status error", `Could not connect to the host: ${error && error.message}`));
  });
