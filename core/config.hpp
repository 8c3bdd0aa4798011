#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/config_reader.hpp"
#include "core/units.hpp"

namespace obsgate::core {

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9464;
  int threads = 2;
  std::uint64_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 16 * 1024 * 1024;
  // A request must arrive whole within read_timeout of its first byte (slow clients are cut off).
  Duration read_timeout = std::chrono::seconds(30);
  // A kept-alive connection with no request in flight is closed after idle_timeout.
  Duration idle_timeout = std::chrono::seconds(120);
  // On SIGTERM, requests in flight get this long to finish.
  Duration shutdown_timeout = std::chrono::seconds(10);
  // Bearer token every changing call to the API needs (start, approve or abort a run; create or
  // expire a silence; reload); empty: none. Reading stays open. A secret: never printed.
  std::string api_token;

  bool operator==(const ServerConfig&) const = default;
};

// How counts are kept per series (rules::WindowStore).
struct WindowsConfig {
  Duration resolution = std::chrono::seconds(1);
  Duration horizon = std::chrono::hours(1);  // the longest window a rule may use
  std::uint64_t max_series = 200'000;
  Duration idle_series_ttl = std::chrono::hours(1);

  bool operator==(const WindowsConfig&) const = default;
};

// How application lines are read; empty lists keep the built-in defaults (ingest/classify.hpp).
struct ClassifyConfig {
  std::vector<std::string> status_fields;
  std::vector<std::string> level_fields;
  std::vector<std::string> namespace_fields;
  std::vector<std::string> deployment_fields;
  std::vector<std::string> version_fields;
  std::vector<int> extra_error_statuses;    // besides 5xx, e.g. 429
  std::vector<std::string> error_patterns;  // RE2

  bool operator==(const ClassifyConfig&) const = default;
};

// Fallback labels a source gives its records when neither the log path nor the line names them.
struct StaticLabels {
  std::string ns;
  std::string deployment;
  std::string version;

  bool operator==(const StaticLabels&) const = default;
};

// Loki-compatible push (POST /loki/api/v1/push), NDJSON push (POST /api/v1/logs) and OTLP/HTTP
// logs (POST /v1/logs).
struct HttpSourceConfig {
  bool loki = true;
  bool ndjson = true;
  bool otlp = true;
  std::string token;  // bearer token; empty: no authentication. A secret: never printed.
  // Bodies being read or counted at once; past this, pushes get 429 with Retry-After.
  std::uint64_t max_inflight_bytes = 64 * 1024 * 1024;

  bool operator==(const HttpSourceConfig&) const = default;
};

// Container log files, followed across rotation, with checkpoints.
struct TailSourceConfig {
  std::vector<std::string> paths = {"/var/log/containers/*.log"};
  std::vector<std::string> exclude = {"*.gz", "*.tmp"};
  std::string format = "auto";  // docker, cri, raw, auto
  std::string checkpoint_file;  // empty: no checkpoints, files are read from their end
  Duration checkpoint_interval = std::chrono::seconds(5);
  Duration rescan_interval = std::chrono::seconds(1);
  std::uint64_t max_line_size = 1024 * 1024;
  bool read_from_head = false;  // files found at start without a checkpoint: from the start?
  StaticLabels labels;

  bool operator==(const TailSourceConfig&) const = default;
};

// A Kafka consumer group member reading log lines.
struct KafkaSourceConfig {
  std::string brokers;
  std::vector<std::string> topics;
  std::string group = "obsgate";
  std::string format = "auto";
  // Passed to librdkafka as they are (security.protocol, sasl.*, ssl.*, ...).
  std::map<std::string, std::string> properties;
  Duration commit_interval = std::chrono::seconds(5);
  int batch_size = 1000;
  // Message headers that name a record's namespace, deployment and version.
  StaticLabels header_names = {"namespace", "deployment", "version"};
  StaticLabels labels;
  // On a partition assigned to this member, rebuild the windows of its deployments from the
  // records the log still holds (from where the last owner's window began), instead of starting
  // them empty.
  bool rewind_on_assign = false;

  bool operator==(const KafkaSourceConfig&) const = default;
};

// One /metrics endpoint and the labels it adds to what it exposes.
struct ScrapeTargetConfig {
  std::string url;
  std::map<std::string, std::string> labels;

  bool operator==(const ScrapeTargetConfig&) const = default;
};

// Prometheus /metrics endpoints whose counters become request and error counts.
struct ScrapeSourceConfig {
  Duration interval = std::chrono::seconds(15);
  Duration timeout = std::chrono::seconds(10);  // at most the interval
  std::vector<ScrapeTargetConfig> targets;
  // Prometheus file_sd files (JSON or YAML lists of {targets: [host:port], labels: {}}), re-read
  // when they change; their targets are scraped at scheme://host:port + metrics_path.
  std::vector<std::string> file_sd;
  Duration file_sd_refresh = std::chrono::seconds(5);
  std::string scheme = "http";
  std::string metrics_path = "/metrics";
  // Series selectors in PromQL's form: name{label="v", label=~"re", label!="v", label!~"re"}.
  std::string requests = "http_requests_total";
  std::string errors = "http_requests_total{code=~\"5..\"}";
  // Which labels (of the target, or of the sample) name the namespace, deployment and version.
  StaticLabels label_names = {"namespace", "deployment", "version"};
  std::string bearer_token;  // secrets: from ${ENV} or *_file, never printed
  std::string username;
  std::string password;
  std::string ca_file;
  bool insecure_skip_verify = false;
  std::uint64_t sample_limit = 0;  // 0: none; more samples fail the scrape
  bool honor_labels = false;       // on a clash, the sample's label wins over the target's

  bool operator==(const ScrapeSourceConfig&) const = default;
};

struct SourceConfig {
  std::string name;  // "http", "tail-1", ... unless given
  std::variant<HttpSourceConfig, TailSourceConfig, KafkaSourceConfig, ScrapeSourceConfig> spec;

  bool operator==(const SourceConfig&) const = default;
};

// An alerting rule as written; its expression is compiled and checked by the rule engine.
struct RuleConfig {
  std::string name;
  std::string expr;
  int expr_line = 0;  // where the expression is in the file, for its errors
  int expr_column = 0;
  Duration for_{0};
  Duration keep_firing_for{0};
  std::vector<std::pair<std::string, std::string>> labels;
  std::string summary;
  std::string description;
  bool notify = true;
  bool rollback = false;
  std::vector<std::string> match_namespaces;
  std::vector<std::string> match_deployments;

  bool operator==(const RuleConfig&) const = default;
};

// How a receiver reaches its peer over HTTP(S); HTTPS_PROXY and NO_PROXY come from the environment.
struct ReceiverHttpConfig {
  Duration timeout = std::chrono::seconds(10);
  std::string ca_file;  // besides the system CAs
  bool insecure_skip_verify = false;

  bool operator==(const ReceiverHttpConfig&) const = default;
};

// Writes each notification to the structured log.
struct LogReceiverConfig {
  bool operator==(const LogReceiverConfig&) const = default;
};

// A Slack incoming webhook.
struct SlackReceiverConfig {
  std::string webhook_url;  // a secret: from ${ENV} or webhook_url_file, never printed
  std::string channel;      // optional override, for webhooks that allow it
  std::string username;
  std::string icon_emoji;
  bool send_resolved = true;
  ReceiverHttpConfig http;

  bool operator==(const SlackReceiverConfig&) const = default;
};

// PagerDuty Events API v2.
struct PagerDutyReceiverConfig {
  std::string routing_key;  // a secret: from ${ENV} or routing_key_file, never printed
  std::string url = "https://events.pagerduty.com/v2/enqueue";
  std::string source;  // payload.source; empty: the alert's namespace/deployment
  std::string client = "obsgate";
  std::string client_url;  // empty: the gateway's external_url
  bool send_resolved = true;
  ReceiverHttpConfig http;

  bool operator==(const PagerDutyReceiverConfig&) const = default;
};

// Alertmanager's API v2 (POST /api/v2/alerts), as Prometheus sends alerts to it.
struct AlertmanagerReceiverConfig {
  std::vector<std::string> urls;  // base URLs, like http://alertmanager:9093
  Duration resend_interval = std::chrono::minutes(1);
  std::string bearer_token;  // a secret
  ReceiverHttpConfig http;

  bool operator==(const AlertmanagerReceiverConfig&) const = default;
};

// Alertmanager's webhook payload (version 4), POSTed as it is.
struct WebhookReceiverConfig {
  std::string url;     // a secret (URLs often carry tokens): from ${ENV} or url_file
  int max_alerts = 0;  // 0: all; past it, truncatedAlerts counts the rest
  bool send_resolved = true;
  std::string bearer_token;  // a secret
  ReceiverHttpConfig http;

  bool operator==(const WebhookReceiverConfig&) const = default;
};

struct ReceiverConfig {
  std::string name;
  std::variant<LogReceiverConfig, SlackReceiverConfig, PagerDutyReceiverConfig,
               AlertmanagerReceiverConfig, WebhookReceiverConfig>
      spec;

  bool operator==(const ReceiverConfig&) const = default;
};

// A label matcher as Alertmanager writes it: name="v", name!="v", name=~"re", name!~"re".
struct LabelMatcherConfig {
  enum class Op { kEqual, kNotEqual, kRegex, kNotRegex };
  std::string name;
  Op op = Op::kEqual;
  std::string value;  // a regular expression (RE2, anchored) for kRegex and kNotRegex

  bool operator==(const LabelMatcherConfig&) const = default;
};
// Parses one matcher; the value may be quoted ("...", with \" and \\) or bare.
Result<LabelMatcherConfig> ParseLabelMatcher(std::string_view text);
std::string LabelMatcherText(const LabelMatcherConfig& m);  // name=~"value", quoted

// One node of the notification routing tree, as Alertmanager's route:. Unset timing and group_by
// are inherited from the parent.
struct RouteConfig {
  std::string receiver;  // empty: the parent's
  std::vector<LabelMatcherConfig> matchers;
  std::optional<std::vector<std::string>> group_by;  // {"..."}: every label
  std::optional<Duration> group_wait;
  std::optional<Duration> group_interval;
  std::optional<Duration> repeat_interval;
  // Send a resolved alert at once instead of at the group's next group_interval.
  std::optional<bool> send_resolved_at_once;
  bool continue_matching = false;  // `continue`
  std::vector<RouteConfig> routes;
  int line = 0;  // where it is in the file
  int column = 0;

  bool operator==(const RouteConfig&) const = default;
};

struct InhibitRuleConfig {
  std::vector<LabelMatcherConfig> source_matchers;
  std::vector<LabelMatcherConfig> target_matchers;
  std::vector<std::string> equal;

  bool operator==(const InhibitRuleConfig&) const = default;
};

// Where notifications go and how they are kept until delivered.
struct AlertingConfig {
  RouteConfig route;
  std::vector<ReceiverConfig> receivers;
  std::vector<InhibitRuleConfig> inhibit_rules;
  bool given = false;        // false: the built-in log receiver and route apply
  std::string external_url;  // how people reach this gateway, for links in messages
  // A notification still undelivered this long after it was made is given up, logged, counted.
  Duration give_up_after = std::chrono::hours(1);
  Duration retry_initial = std::chrono::seconds(1);  // back-off: doubled per attempt, jittered
  Duration retry_max = std::chrono::minutes(5);
  int history = 200;  // notifications kept for GET /api/v1/notifications

  bool operator==(const AlertingConfig&) const = default;
};

// The Kubernetes API, in-cluster or through a kubeconfig.
struct KubernetesOrchestratorConfig {
  bool in_cluster = false;  // the service account's token and CA; otherwise a kubeconfig
  std::string kubeconfig;   // empty: $KUBECONFIG, then ~/.kube/config
  std::string context;      // empty: the kubeconfig's current-context
  Duration timeout = std::chrono::seconds(10);  // one API call
  // How often Deployments and ReplicaSets are listed to map pod-template-hash to image tags.
  Duration resync = std::chrono::seconds(30);
  std::vector<std::string> namespaces;  // looked at for version discovery; empty: all

  bool operator==(const KubernetesOrchestratorConfig&) const = default;
};

// The Docker Engine API of a Swarm manager.
struct SwarmOrchestratorConfig {
  std::string host = "unix:///var/run/docker.sock";  // or tcp://host:2376 (TLS when cert set)
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  Duration timeout = std::chrono::seconds(10);         // one API call
  Duration rollout_timeout = std::chrono::minutes(5);  // waiting for rollback_completed

  bool operator==(const SwarmOrchestratorConfig&) const = default;
};

// Commands run as argv (never through a shell), with {namespace}, {deployment},
// {from_version}, {to_version} and {image} replaced in each argument.
struct ExecOrchestratorConfig {
  std::vector<std::string> rollback;   // e.g. [helm, rollback, "{deployment}", -n, "{namespace}"]
  std::vector<std::string> set_image;  // for the deploy pipeline; may be empty
  std::vector<std::string> status;     // exit 0: the rollout is complete; may be empty
  Duration timeout = std::chrono::minutes(5);

  bool operator==(const ExecOrchestratorConfig&) const = default;
};

struct OrchestratorConfig {
  // monostate: none configured (rollback decisions are made, audited and announced, not acted on)
  std::variant<std::monostate, KubernetesOrchestratorConfig, SwarmOrchestratorConfig,
               ExecOrchestratorConfig>
      spec;

  bool operator==(const OrchestratorConfig&) const = default;
};

// The guards an automatic rollback must pass, each explained when it refuses.
struct RollbackConfig {
  // Only a version younger than this is rolled back: an old, stable version failing points at
  // something else (a dependency, the database), which undoing the release would not fix.
  Duration only_within = std::chrono::minutes(30);
  Duration cooldown = std::chrono::minutes(10);  // per deployment, after a rollback
  int max_per_hour = 3;                          // across all deployments
  bool dry_run = false;                          // decide and announce, never act
  bool pause = false;  // mode: pause — announce and wait for a person instead of acting
  // The previous version must exist and be healthy (now, or over its last window of traffic).
  bool require_healthy_baseline = true;
  double baseline_max_error_rate = 0.01;
  Duration timeout = std::chrono::minutes(5);  // the orchestrator's whole rollback, with retries
  // Refused when deployments with no release within only_within fail at the same time and at a
  // similar rate: a shared cause (a dependency, the network), which a rollback would not fix.
  struct SharedOutage {
    enum class Peers { kNone, kNamespace, kAll };  // whose failures count: off, same namespace, any
    Peers peers = Peers::kNamespace;
    Duration window = std::chrono::minutes(1);   // failing now: over this window
    Duration before = std::chrono::minutes(10);  // against the window of this length before it
    double similar = 0.5;   // a peer's error rate at least this fraction of the release's
    int min_requests = 20;  // a peer with fewer requests in the window proves nothing

    bool operator==(const SharedOutage&) const = default;
  };
  SharedOutage shared_outage;

  bool operator==(const RollbackConfig&) const = default;
};

// One step of a deploy pipeline (deploy/pipeline). Fields belong to the kinds named beside them.
struct PipelineStepConfig {
  enum class Kind { kMigrate, kApprove, kRollout, kWait, kAnalyze, kPromote };
  Kind kind = Kind::kPromote;
  int line = 0;  // where the step is in the file
  int column = 0;
  // migrate: a command run as argv (no shell) in `dir` with `env` added, after the migration
  // linter has checked `paths` (files or directories); `allow` lists linter rules let through.
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  std::string dir;
  std::vector<std::string> paths;
  std::vector<std::string> allow;
  // migrate (the command), rollout (retries), wait and analyze (the deadline); 0: the default.
  Duration timeout{0};
  // wait: a URL that must answer 200 once the rollout is complete; empty: the rollout alone.
  std::string health_url;
  // analyze: must hold continuously for `for_`; `fail` ends the step at once when it holds.
  std::string expr;
  int expr_line = 0;
  int expr_column = 0;
  std::string fail;
  int fail_line = 0;
  int fail_column = 0;
  Duration for_{0};

  bool operator==(const PipelineStepConfig&) const = default;
};

const char* PipelineStepKindName(PipelineStepConfig::Kind kind);  // "migrate", "approve", ...

// A deploy pipeline for one deployment: `obsgate deploy NAME --tag TAG` runs its steps in order.
struct PipelineConfig {
  std::string name;
  std::string ns;
  std::string deployment;
  std::string container;  // empty: the first container
  std::string image;      // the repository without a tag: the tag comes with each run
  enum class Environment { kDevelopment, kStaging, kProduction };
  Environment environment = Environment::kDevelopment;
  bool rollback_on_failure = true;  // on_failure: rollback (default) or none
  std::vector<PipelineStepConfig> steps;
  int line = 0;

  bool operator==(const PipelineConfig&) const = default;
};

const char* EnvironmentName(PipelineConfig::Environment e);  // "development", ...

// The whole configuration, validated. Later components add their sections here.
// Several replicas, one decider: only the replica holding the lock rolls back and runs pipelines.
// Absent: this replica always acts, as one alone does.
struct LeaderElectionConfig {
  bool enabled = false;
  // A Kubernetes Lease (coordination.k8s.io/v1) reached with orchestrator.kubernetes's access,
  // or (file) an flock on a file, for replicas on one host.
  enum class Backend { kLease, kFile } backend = Backend::kLease;
  std::string lease_namespace;  // empty: the access's namespace
  std::string lease_name = "obsgate";
  std::string lock_file;  // empty: <data_dir>/leader.lock
  std::string identity;   // empty: <hostname>_<pid>
  // As client-go's leader election: others take over a lease not renewed for lease_duration;
  // the holder stops acting when it could not renew for renew_deadline; tries every
  // retry_period.
  Duration lease_duration = std::chrono::seconds(15);
  Duration renew_deadline = std::chrono::seconds(10);
  Duration retry_period = std::chrono::seconds(2);

  bool operator==(const LeaderElectionConfig&) const = default;
};

// Replicas behind one load balancer that share HTTP push: each deployment's counts belong to one
// replica (rendezvous hashing of namespace/deployment over `peers`); the replica a push reaches
// forwards the counts of the deployments it does not own to their owners. A standby also hands
// the rollbacks its rules decide to the leader (leader_election), which alone acts.
struct ClusterConfig {
  std::vector<std::string> peers;  // every replica's base URL, this one's included
  std::string self;                // this replica's entry in peers
  Duration forward_interval = std::chrono::milliseconds(200);
  // A peer that takes no counts this long: they are counted here instead, split but not lost.
  Duration give_up_after = std::chrono::seconds(30);

  bool enabled() const { return !peers.empty(); }
  bool operator==(const ClusterConfig&) const = default;
};

struct Config {
  std::string file;  // where it was read from; "<embedded default>" for the built-in one
  ServerConfig server;
  WindowsConfig windows;
  ClassifyConfig classify;
  std::vector<SourceConfig> sources;
  std::vector<RuleConfig> rules;
  bool rules_given = false;  // false: the built-in default rules apply
  AlertingConfig alerting;
  OrchestratorConfig orchestrator;
  RollbackConfig rollback;
  std::vector<PipelineConfig> pipelines;  // deploy pipelines, by name
  LeaderElectionConfig leader_election;
  ClusterConfig cluster;
  // The outbox, silences and other state that must survive a restart; relative to the working
  // directory, like Prometheus's data/.
  std::string data_dir = "data";
};

struct ConfigLoad {
  std::optional<Config> config;  // set only when there are no problems
  Config parsed;                 // what could be read, problems or not: for further checks
  std::vector<ConfigProblem> problems;
};

ConfigLoad ParseConfig(std::string_view yaml, std::string file, const Env& env);
ConfigLoad LoadConfigFile(const std::string& path, const Env& env);

// "host:port", "[v6]:port" or ":port" (all interfaces).
Result<std::pair<std::string, std::uint16_t>> ParseListenAddress(std::string_view text);

}  // namespace obsgate::core
