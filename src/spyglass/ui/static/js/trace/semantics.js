// What a span is, at a glance: the kind of work (HTTP server or client, RPC, database,
// messaging producer or consumer) from the span kind and the OpenTelemetry semantic
// conventions (current names first, the older ones Jaeger clients still send after), and
// short badges for the attributes people scan for. Computed once per span, on first draw.

import { s } from "../dom.js";

function tagMap(tags) {
  const m = new Map();
  for (let i = 0; i < tags.length; i++) if (!m.has(tags[i].key)) m.set(tags[i].key, tags[i].value);
  return m;
}

function first(m, ...keys) {
  for (const k of keys) {
    const v = m.get(k);
    if (v !== undefined && v !== null && v !== "") return String(v);
  }
  return "";
}

const DB_NAMES = { postgresql: "PostgreSQL", mysql: "MySQL", redis: "Redis", mongodb: "MongoDB", sqlite: "SQLite", cassandra: "Cassandra", elasticsearch: "Elasticsearch", mssql: "SQL Server", oracle: "Oracle" };
const MQ_NAMES = { kafka: "Kafka", rabbitmq: "RabbitMQ", nats: "NATS", aws_sqs: "SQS", gcp_pubsub: "Pub/Sub", activemq: "ActiveMQ", rocketmq: "RocketMQ", pulsar: "Pulsar" };

/**
 * ``{ category, role, label, badges: [{ text, kind, title }] }`` for a model span:
 * category is http, rpc, db, messaging or generic; role is server, client, producer,
 * consumer or internal (or "").
 */
export function spanSemantics(span) {
  if (span._semantics) return span._semantics;
  const m = tagMap(span.tags);
  let role = (span.kind || "").toLowerCase();
  const badges = [];
  let category = "generic";

  const dbSystem = first(m, "db.system.name", "db.system");
  const mqSystem = first(m, "messaging.system");
  const rpcSystem = first(m, "rpc.system");
  const method = first(m, "http.request.method", "http.method");
  const status = first(m, "http.response.status_code", "http.status_code");
  if (mqSystem) {
    category = "messaging";
    if (role !== "producer" && role !== "consumer") {
      const op = first(m, "messaging.operation.type", "messaging.operation").toLowerCase();
      role = op === "publish" || op === "send" || op === "create" ? "producer" : op ? "consumer" : role;
    }
  } else if (dbSystem) category = "db";
  else if (rpcSystem || first(m, "rpc.method")) category = "rpc";
  else if (method || status || first(m, "http.route", "url.full", "http.url", "url.path", "http.target")) category = "http";

  if (method) badges.push({ text: method.toUpperCase(), kind: "method", title: `HTTP method ${method.toUpperCase()}` });
  if (status) {
    const code = Number(status);
    const kind = code >= 500 ? "status-error" : code >= 400 ? "status-warn" : "status-ok";
    badges.push({ text: status, kind, title: `HTTP status ${status}` });
  }
  if (category === "rpc") {
    const rpcMethod = first(m, "rpc.method");
    const rpcService = first(m, "rpc.service");
    if (rpcMethod) badges.push({ text: rpcMethod, kind: "rpc", title: `RPC method ${rpcService ? `${rpcService}/` : ""}${rpcMethod}${rpcSystem ? ` (${rpcSystem})` : ""}` });
    else if (rpcSystem) badges.push({ text: rpcSystem, kind: "rpc", title: `RPC system ${rpcSystem}` });
  }
  if (dbSystem) badges.push({ text: DB_NAMES[dbSystem.toLowerCase()] || dbSystem, kind: "db", title: `Database system ${dbSystem}` });
  if (mqSystem) {
    const dest = first(m, "messaging.destination.name", "messaging.destination");
    badges.push({ text: MQ_NAMES[mqSystem.toLowerCase()] || mqSystem, kind: "mq", title: `Messaging system ${mqSystem}${dest ? `, destination ${dest}` : ""}` });
  }

  const names = { http: "HTTP", rpc: "RPC", db: "Database", messaging: "Messaging", generic: "" };
  const roleNames = { server: "server", client: "client", producer: "producer", consumer: "consumer", internal: "internal" };
  let label;
  if (category === "db") label = role === "server" ? "Database server" : "Database call";
  else if (category === "generic") label = role ? `${roleNames[role] || role} span` : "span";
  else label = `${names[category]} ${roleNames[role] || "span"}`;
  label = label[0].toUpperCase() + label.slice(1);
  const result = { category, role, label, badges };
  span._semantics = result;
  return result;
}

// 14×14 line icons, drawn in currentColor.
const PATHS = {
  http: "M7 1.5a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11ZM1.5 7h11M7 1.5c-2 2-2 9 0 11M7 1.5c2 2 2 9 0 11",
  rpc: "M2 4.5h9M8.5 2l2.5 2.5L8.5 7M12 9.5H3M5.5 7 3 9.5 5.5 12",
  db: "M2.5 3.5c0-1.1 2-2 4.5-2s4.5.9 4.5 2v7c0 1.1-2 2-4.5 2s-4.5-.9-4.5-2ZM2.5 3.5c0 1.1 2 2 4.5 2s4.5-.9 4.5-2M2.5 7c0 1.1 2 2 4.5 2s4.5-.9 4.5-2",
  messaging: "M1.5 3.5h11v7h-11ZM1.5 3.5 7 8l5.5-4.5",
  generic: "M3 7h8",
};
const ROLE_MARK = {
  server: "M0 11h4M2.5 9.5 4 11l-1.5 1.5", // arrow in
  client: "M10 11h4M12.5 9.5 14 11l-1.5 1.5", // arrow out
  producer: "M10 11h4M12.5 9.5 14 11l-1.5 1.5",
  consumer: "M0 11h4M2.5 9.5 4 11l-1.5 1.5",
};

/** The row icon for a span's semantics (an inline SVG with a title). */
export function kindIcon(sem) {
  const role = sem.role && ROLE_MARK[sem.role] ? sem.role : "";
  return s(
    "svg",
    { class: `tl-kind kind-${sem.category}${role ? ` role-${role}` : ""}`, viewBox: "0 0 14 14", width: 14, height: 14, role: "img", "aria-label": sem.label, dataset: { kind: `${sem.category}${sem.role ? `-${sem.role}` : ""}` } },
    s("title", null, sem.label),
    s("path", { d: PATHS[sem.category] }),
    role ? s("path", { class: "role-mark", d: ROLE_MARK[role] }) : null,
  );
}
