#include "app/deploy_cli.hpp"

#include <simdjson.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "core/atomic_file.hpp"
#include "core/json.hpp"
#include "net/http_client.hpp"

namespace obsgate::app {

const char* const kDeployHelp =
    "usage: obsgate deploy PIPELINE --tag TAG [--url URL] [--token-file FILE]\n\n"
    "Starts a run of PIPELINE (from the gateway's pipelines: configuration) rolling out TAG, on\n"
    "the running gateway (POST /api/v1/pipelines/PIPELINE/runs). Its steps run there: migrate,\n"
    "approve, rollout, wait, analyze, promote; a failed step rolls the code back. Production\n"
    "takes tagged releases only (v1.2.0) and a person's approval before the rollout.\n\n"
    "  --tag TAG          the image tag to roll out\n"
    "  --url URL          the gateway (default http://127.0.0.1:9464)\n"
    "  --token-file FILE  the gateway's server.api_token; default $OBSGATE_API_TOKEN\n\n"
    "Prints the run's id; follow it with obsgate runs RUN_ID. Exit status: 0 started; 1 refused\n"
    "(unknown pipeline, a run already active: 409) or the gateway unreachable; 2 bad usage.\n";

const char* const kApproveHelp =
    "usage: obsgate approve RUN_ID [--url URL] [--token-file FILE]\n\n"
    "Lets a run waiting at an approve step (or after an inconclusive analysis) go on\n"
    "(POST /api/v1/runs/RUN_ID/approve). Exit status: 0 approved; 1 refused (the run is not\n"
    "waiting, or a wrong token) or the gateway unreachable; 2 bad usage. A gateway with\n"
    "server.api_token wants it: --token-file FILE, or $OBSGATE_API_TOKEN.\n";

const char* const kAbortHelp =
    "usage: obsgate abort RUN_ID [--url URL] [--token-file FILE]\n\n"
    "Stops an active run (POST /api/v1/runs/RUN_ID/abort); a step at work finishes first. The\n"
    "code is not rolled back: obsgate rollback NAMESPACE/DEPLOYMENT does that. A gateway with\n"
    "server.api_token wants it: --token-file FILE, or $OBSGATE_API_TOKEN.\n";

const char* const kRunsHelp =
    "usage: obsgate runs [RUN_ID] [--url URL]\n\n"
    "Lists pipeline runs, newest first (GET /api/v1/runs), or shows one run as JSON with each\n"
    "step's state, times, measured values and output.\n";

namespace {

constexpr const char* kDefaultUrl = "http://127.0.0.1:9464";

struct Args {
  std::vector<std::string> positional;
  std::string url = kDefaultUrl;
  std::string token_file;
  std::string tag;
  bool has_tag = false;
};

// The positional arguments and --url (and --tag when `tag` is allowed); an error message when
// they are wrong.
std::string Parse(const std::vector<std::string>& args, bool tag, Args& out) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (a.rfind(name + "=", 0) == 0) return a.substr(name.size() + 1);
      if (a == name && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (a == "--url" || a.rfind("--url=", 0) == 0) {
      auto v = value("--url");
      if (!v || v->empty())
        return "--url needs the gateway's URL, like " + std::string(kDefaultUrl);
      out.url = *v;
    } else if (a == "--token-file" || a.rfind("--token-file=", 0) == 0) {
      auto v = value("--token-file");
      if (!v || v->empty()) return "--token-file needs the path of a file holding the API token";
      out.token_file = *v;
    } else if (tag && (a == "--tag" || a.rfind("--tag=", 0) == 0)) {
      auto v = value("--tag");
      if (!v || v->empty()) return "--tag needs an image tag, like v1.2.0";
      out.tag = *v;
      out.has_tag = true;
    } else if (a.rfind("--", 0) == 0) {
      return "unknown option " + a;
    } else {
      out.positional.push_back(a);
    }
  }
  while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  return "";
}

// The gateway's API token: --token-file's contents, else $OBSGATE_API_TOKEN, else none. Never
// from the command line, where other users of the host could read it. Prints why a file could not
// be read and returns nullopt.
std::optional<std::string> ApiToken(const std::string& command, const Args& a) {
  if (a.token_file.empty()) {
    const char* env = std::getenv("OBSGATE_API_TOKEN");
    return std::string(env ? env : "");
  }
  auto text = core::ReadWholeFile(a.token_file);
  if (!text) {
    std::cerr << "obsgate " << command << ": cannot read the token file " << a.token_file
              << "; check its path and permissions\n";
    return std::nullopt;
  }
  std::string token = std::move(text).value();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

// One call to the gateway; prints its error and returns nullopt when it failed.
std::optional<net::HttpFetch> Call(const std::string& command, const Args& a,
                                   const std::string& method, const std::string& path,
                                   const std::string& body = "") {
  net::HttpClientOptions options;
  options.timeout = std::chrono::seconds(10);
  auto client = net::HttpClient::Create(a.url + path, options);
  if (!client) {
    std::cerr << "obsgate " << command << ": " << client.error() << "\n";
    return std::nullopt;
  }
  net::HttpCall call;
  call.method = method;
  call.body = body;
  auto token = ApiToken(command, a);
  if (!token) return std::nullopt;
  if (!token->empty()) call.headers.push_back({"Authorization", "Bearer " + *token});
  if (!body.empty()) call.content_type = "application/json";
  net::HttpFetch f = (*client)->Send(call);
  if (f.status == 0) {
    std::cerr << "obsgate " << command << ": cannot reach the gateway at " << a.url << ": "
              << f.error << "; is obsgate running there? (--url)\n";
    return std::nullopt;
  }
  if (f.status == 401) {
    std::cerr << "obsgate " << command << ": the gateway refused the API token"
              << (token->empty() ? " (none was sent)" : "")
              << "; give its server.api_token with --token-file FILE or $OBSGATE_API_TOKEN\n";
    return std::nullopt;
  }
  return f;
}

std::string Field(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) ? std::string() : std::string(v);
}

// The gateway's error message, or the body when it is not the usual shape.
std::string ErrorOf(const net::HttpFetch& f) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (!parser.parse(f.body).get(e)) {
    std::string error = Field(e, "error");
    if (!error.empty()) return error;
  }
  return "HTTP " + std::to_string(f.status) + ": " + f.body;
}

// "auth-prod-3  running  v1.2.0  rollout running" for a run object.
std::string Line(simdjson::dom::element run) {
  std::string step;
  std::uint64_t current = 0;
  simdjson::dom::array steps;
  if (!run["current"].get_uint64().get(current) && !run["steps"].get_array().get(steps) &&
      current < steps.size()) {
    simdjson::dom::element s;
    if (!steps.at(current).get(s)) step = Field(s, "kind") + " " + Field(s, "state");
  }
  std::string out = Field(run, "id") + "  " + Field(run, "state") + "  " + Field(run, "tag");
  if (!step.empty()) out += "  (" + step + ")";
  std::string message = Field(run, "message");
  if (!message.empty()) out += "\n    " + message;
  return out;
}

int RunAction(const std::string& command, const std::vector<std::string>& args,
              const std::string& action) {
  Args a;
  if (std::string e = Parse(args, false, a); !e.empty() || a.positional.size() != 1) {
    std::cerr << "obsgate " << command << ": " << (e.empty() ? "name one RUN_ID" : e)
              << "; see obsgate " << command << " --help\n";
    return 2;
  }
  auto f = Call(command, a, "POST", "/api/v1/runs/" + a.positional[0] + "/" + action);
  if (!f) return 1;
  if (f->status >= 300) {
    std::cerr << "obsgate " << command << ": " << ErrorOf(*f) << "\n";
    return 1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element run;
  if (parser.parse(f->body).get(run)) {
    std::cout << f->body << "\n";
    return 0;
  }
  std::cout << (action == "approve" ? "approved: " : "abort: ") << Line(run) << "\n";
  return 0;
}

}  // namespace

int DeployCommand(const std::vector<std::string>& args) {
  Args a;
  std::string e = Parse(args, true, a);
  if (e.empty() && a.positional.size() != 1) e = "name one PIPELINE";
  if (e.empty() && !a.has_tag) e = "--tag TAG is required, like --tag v1.2.0";
  if (!e.empty()) {
    std::cerr << "obsgate deploy: " << e << "; see obsgate deploy --help\n";
    return 2;
  }
  auto f = Call("deploy", a, "POST", "/api/v1/pipelines/" + a.positional[0] + "/runs",
                "{\"tag\":" + core::JsonQuote(a.tag) + "}");
  if (!f) return 1;
  if (f->status >= 300) {
    std::cerr << "obsgate deploy: " << ErrorOf(*f) << "\n";
    return 1;
  }
  simdjson::dom::parser parser;
  simdjson::dom::element run;
  if (parser.parse(f->body).get(run)) {
    std::cout << f->body << "\n";
    return 0;
  }
  std::string id = Field(run, "id");
  std::cout << "run " << id << " started: " << a.positional[0] << " " << a.tag << "\n"
            << "follow it with obsgate runs " << id << "\n";
  return 0;
}

int ApproveCommand(const std::vector<std::string>& args) {
  return RunAction("approve", args, "approve");
}

int AbortCommand(const std::vector<std::string>& args) { return RunAction("abort", args, "abort"); }

int RunsCommand(const std::vector<std::string>& args) {
  Args a;
  if (std::string e = Parse(args, false, a); !e.empty() || a.positional.size() > 1) {
    std::cerr << "obsgate runs: " << (e.empty() ? "name at most one RUN_ID" : e)
              << "; see obsgate runs --help\n";
    return 2;
  }
  std::string path = "/api/v1/runs" + (a.positional.empty() ? "" : "/" + a.positional[0]);
  auto f = Call("runs", a, "GET", path);
  if (!f) return 1;
  if (f->status >= 300) {
    std::cerr << "obsgate runs: " << ErrorOf(*f) << "\n";
    return 1;
  }
  if (!a.positional.empty()) {
    std::cout << f->body << "\n";
    return 0;
  }
  simdjson::dom::parser parser;
  simdjson::dom::array runs;
  if (parser.parse(f->body).get_array().get(runs)) {
    std::cout << f->body << "\n";
    return 0;
  }
  if (runs.size() == 0) std::cout << "no runs yet; start one with obsgate deploy\n";
  for (simdjson::dom::element run : runs) std::cout << Line(run) << "\n";
  return 0;
}

}  // namespace obsgate::app
