#include "rollback/kubernetes/access.hpp"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace obsgate::rollback::kubernetes {
namespace {

core::Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return core::Error{"cannot read " + path};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r\n"));
  s.erase(s.find_last_not_of(" \t\r\n") + 1);
  return s;
}

std::string DirOf(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

std::string Resolve(const std::string& dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return dir + "/" + path;
}

// One kubeconfig file, parsed.
struct KubeconfigFile {
  std::string path;
  YAML::Node root;
};

// The entry called `name` in the list `list` ("clusters", "users", "contexts") of the first file
// that has one, with the file it came from (relative paths are relative to it).
const KubeconfigFile* FindNamed(const std::vector<KubeconfigFile>& files, const char* list,
                                const std::string& name, const char* inner, YAML::Node* out) {
  for (const auto& f : files) {
    YAML::Node entries = f.root[list];
    if (!entries || !entries.IsSequence()) continue;
    for (const auto& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name && entry[inner]) {
        *out = entry[inner];
        return &f;
      }
    }
  }
  return nullptr;
}

std::string Names(const std::vector<KubeconfigFile>& files, const char* list) {
  std::string out;
  for (const auto& f : files) {
    YAML::Node entries = f.root[list];
    if (!entries || !entries.IsSequence()) continue;
    for (const auto& entry : entries) {
      if (!entry["name"]) continue;
      if (!out.empty()) out += ", ";
      out += entry["name"].as<std::string>();
    }
  }
  return out.empty() ? "none" : out;
}

std::string Str(const YAML::Node& n, const char* key) {
  return n[key] && n[key].IsScalar() ? n[key].as<std::string>() : "";
}

core::Result<ApiAccess> FromKubeconfig(const std::vector<KubeconfigFile>& files,
                                       const std::string& wanted_context,
                                       const std::string& where) {
  std::string context = wanted_context;
  if (context.empty()) {
    for (const auto& f : files) {
      context = Str(f.root, "current-context");
      if (!context.empty()) break;
    }
  }
  if (context.empty()) {
    return core::Error{"the kubeconfig " + where +
                       " has no current-context; set orchestrator.kubernetes.context to one of: " +
                       Names(files, "contexts")};
  }
  YAML::Node ctx;
  if (!FindNamed(files, "contexts", context, "context", &ctx)) {
    return core::Error{"the kubeconfig " + where + " has no context \"" + context +
                       "\"; its contexts are: " + Names(files, "contexts")};
  }
  std::string cluster_name = Str(ctx, "cluster"), user_name = Str(ctx, "user");
  if (cluster_name.empty()) {
    return core::Error{"the context \"" + context + "\" in " + where + " names no cluster"};
  }
  YAML::Node cluster;
  const KubeconfigFile* cluster_file =
      FindNamed(files, "clusters", cluster_name, "cluster", &cluster);
  if (!cluster_file) {
    return core::Error{"the kubeconfig " + where + " has no cluster \"" + cluster_name +
                       "\" (named by context \"" + context + "\")"};
  }
  ApiAccess a;
  a.source = where;
  a.default_namespace = Str(ctx, "namespace");
  a.server = Str(cluster, "server");
  while (!a.server.empty() && a.server.back() == '/') a.server.pop_back();
  if (a.server.empty()) {
    return core::Error{"the cluster \"" + cluster_name + "\" in " + where + " has no server"};
  }
  std::string dir = DirOf(cluster_file->path);
  if (std::string ca = Str(cluster, "certificate-authority-data"); !ca.empty()) {
    auto pem = DecodeBase64(ca);
    if (!pem) {
      return core::Error{"certificate-authority-data of the cluster \"" + cluster_name + "\" in " +
                         where + " is not base64"};
    }
    a.options.ca_pem = std::move(*pem);
  } else if (std::string file = Str(cluster, "certificate-authority"); !file.empty()) {
    a.options.ca_file = Resolve(dir, file);
  }
  a.options.insecure_skip_verify = Str(cluster, "insecure-skip-tls-verify") == "true";

  if (user_name.empty()) {
    a.identity = "the anonymous user";
    return a;
  }
  a.identity = "the user \"" + user_name + "\"";
  YAML::Node user;
  const KubeconfigFile* user_file = FindNamed(files, "users", user_name, "user", &user);
  if (!user_file) {
    return core::Error{"the kubeconfig " + where + " has no user \"" + user_name +
                       "\" (named by context \"" + context + "\")"};
  }
  dir = DirOf(user_file->path);
  if (user["exec"] || user["auth-provider"]) {
    return core::Error{"the user \"" + user_name + "\" in " + where +
                       " gets its credentials from " +
                       (user["exec"] ? "an exec plugin" : "an auth-provider") +
                       ", which obsgate does not run; give it a token, a tokenFile or a client "
                       "certificate (a service account's token works)"};
  }
  a.token = Trim(Str(user, "token"));
  if (a.token.empty()) {
    if (std::string f = Str(user, "tokenFile"); !f.empty()) a.token_file = Resolve(dir, f);
  }
  auto data = [&](const char* key, std::string* out) -> core::Status {
    std::string v = Str(user, key);
    if (v.empty()) return core::Ok{};
    auto decoded = DecodeBase64(v);
    if (!decoded) {
      return core::Error{std::string(key) + " of the user \"" + user_name + "\" in " + where +
                         " is not base64"};
    }
    *out = std::move(*decoded);
    return core::Ok{};
  };
  if (auto s = data("client-certificate-data", &a.options.client_cert_pem); !s)
    return core::Error{s.error()};
  if (auto s = data("client-key-data", &a.options.client_key_pem); !s)
    return core::Error{s.error()};
  if (a.options.client_cert_pem.empty()) {
    if (std::string f = Str(user, "client-certificate"); !f.empty()) {
      a.options.client_cert_file = Resolve(dir, f);
    }
  }
  if (a.options.client_key_pem.empty()) {
    if (std::string f = Str(user, "client-key"); !f.empty())
      a.options.client_key_file = Resolve(dir, f);
  }
  bool has_cert = !a.options.client_cert_pem.empty() || !a.options.client_cert_file.empty();
  bool has_key = !a.options.client_key_pem.empty() || !a.options.client_key_file.empty();
  if (has_cert != has_key) {
    return core::Error{"the user \"" + user_name + "\" in " + where + " has a client " +
                       (has_cert ? "certificate but no client-key(-data)"
                                 : "key but no client-certificate(-data)")};
  }
  a.options.username = Str(user, "username");
  a.options.password = Str(user, "password");
  return a;
}

}  // namespace

std::optional<std::string> DecodeBase64(std::string_view text) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0, pad = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    else
      return std::nullopt;
    if (pad) return std::nullopt;  // data after padding
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if (pad > 2 || bits >= 6) return std::nullopt;
  return out;
}

core::Result<ApiAccess> InClusterAccess(const core::Env& env,
                                        const std::string& service_account_dir) {
  auto host = env ? env("KUBERNETES_SERVICE_HOST") : std::nullopt;
  auto port = env ? env("KUBERNETES_SERVICE_PORT") : std::nullopt;
  if (!host || host->empty() || !port || port->empty()) {
    return core::Error{
        "in_cluster is set but KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not: "
        "obsgate is not running in a pod; set in_cluster: false and give a kubeconfig"};
  }
  ApiAccess a;
  a.source = "in-cluster";
  a.identity = "the service account";
  std::string h = host->find(':') != std::string::npos ? "[" + *host + "]" : *host;
  a.server = "https://" + h + ":" + *port;
  a.token_file = service_account_dir + "/token";
  auto token = ReadFile(a.token_file);
  if (!token || Trim(*token).empty()) {
    return core::Error{"cannot read the service account token " + a.token_file +
                       "; is automountServiceAccountToken false for obsgate's pod?"};
  }
  std::string ca = service_account_dir + "/ca.crt";
  if (!ReadFile(ca)) {
    return core::Error{"cannot read the service account CA " + ca +
                       "; is the service account volume mounted?"};
  }
  a.options.ca_file = ca;
  if (auto ns = ReadFile(service_account_dir + "/namespace")) a.default_namespace = Trim(*ns);
  return a;
}

core::Result<ApiAccess> KubeconfigAccess(const std::string& path, const std::string& context,
                                         const core::Env& env) {
  std::vector<std::string> paths;
  std::string where;
  if (!path.empty()) {
    paths.push_back(path);
  } else if (auto list = env ? env("KUBECONFIG") : std::nullopt; list && !list->empty()) {
    std::size_t start = 0;
    while (start <= list->size()) {
      std::size_t colon = list->find(':', start);
      std::string p = list->substr(start, colon - start);
      if (!p.empty()) paths.push_back(p);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    where = "$KUBECONFIG (" + *list + ")";
  } else if (auto home = env ? env("HOME") : std::nullopt; home && !home->empty()) {
    paths.push_back(*home + "/.kube/config");
  }
  if (paths.empty()) {
    return core::Error{
        "no kubeconfig: set orchestrator.kubernetes.kubeconfig, $KUBECONFIG or "
        "$HOME, or in_cluster: true when obsgate runs in the cluster"};
  }
  if (where.empty()) where = paths.front();
  std::vector<KubeconfigFile> files;
  for (const auto& p : paths) {
    auto text = ReadFile(p);
    if (!text) {
      if (paths.size() > 1) continue;  // kubectl skips missing files of a KUBECONFIG list
      return core::Error{"cannot read the kubeconfig " + p +
                         "; set orchestrator.kubernetes.kubeconfig or $KUBECONFIG, or in_cluster: "
                         "true when obsgate runs in the cluster"};
    }
    try {
      YAML::Node root = YAML::Load(*text);
      if (root && !root.IsNull() && !root.IsMap()) {
        return core::Error{"the kubeconfig " + p + " is not a YAML mapping"};
      }
      files.push_back({p, root ? root : YAML::Node(YAML::NodeType::Map)});
    } catch (const YAML::Exception& e) {
      return core::Error{"the kubeconfig " + p + " line " + std::to_string(e.mark.line + 1) + ": " +
                         e.msg};
    }
  }
  if (files.empty())
    return core::Error{"none of the kubeconfig files in " + where + " can be read"};
  try {
    return FromKubeconfig(files, context, where);
  } catch (const YAML::Exception& e) {
    return core::Error{"the kubeconfig " + where + " line " + std::to_string(e.mark.line + 1) +
                       ": " + e.msg};
  }
}

core::Result<ApiAccess> ResolveAccess(const core::KubernetesOrchestratorConfig& config,
                                      const core::Env& env,
                                      const std::string& service_account_dir) {
  auto access = config.in_cluster ? InClusterAccess(env, service_account_dir)
                                  : KubeconfigAccess(config.kubeconfig, config.context, env);
  if (!access) return access;
  ApiAccess a = std::move(access).value();
  a.options.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout);
  a.options.env = env;
  a.options.accept = "application/json";
  return a;
}

core::Result<std::string> BearerToken(const ApiAccess& access) {
  if (access.token_file.empty()) return access.token;
  auto text = ReadFile(access.token_file);
  std::string token = text ? std::move(text).value() : std::string();
  token.erase(token.find_last_not_of(" \t\r\n") + 1);
  if (token.empty()) {
    return core::Error{"cannot read the token file " + access.token_file +
                       "; is the service account token still mounted?"};
  }
  return token;
}

}  // namespace obsgate::rollback::kubernetes
