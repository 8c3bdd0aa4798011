#pragma once

#include <string>

#include "core/config.hpp"
#include "core/config_reader.hpp"  // core::Env
#include "core/result.hpp"
#include "net/http_client.hpp"

namespace obsgate::rollback::kubernetes {

// Where a pod finds its service account: token, ca.crt, namespace.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// Where the Kubernetes API is and how obsgate proves who it is.
struct ApiAccess {
  std::string server;              // "https://10.96.0.1:443", no trailing slash
  net::HttpClientOptions options;  // TLS (CA, client certificate), time-out, proxies; no token
  std::string token;               // a fixed bearer token; a secret, never in messages
  std::string token_file;          // read again before every call when set (tokens rotate)
  std::string default_namespace;   // the context's namespace, or the service account's
  std::string identity;  // who is asking, for messages: "the service account", "the user \"ci\""
  std::string source;    // where this came from, for messages: the kubeconfig path, or "in-cluster"
};

// In-cluster: KUBERNETES_SERVICE_HOST/PORT from `env`, token, ca.crt and namespace from
// `service_account_dir`.
core::Result<ApiAccess> InClusterAccess(
    const core::Env& env, const std::string& service_account_dir = kServiceAccountDir);

// A kubeconfig: `path` (empty: $KUBECONFIG, a ':'-separated list merged as kubectl merges it,
// then $HOME/.kube/config) and its current-context, or `context` when given. Relative file paths
// in it are relative to the file that names them.
core::Result<ApiAccess> KubeconfigAccess(const std::string& path, const std::string& context,
                                         const core::Env& env);

// What the configuration asks for; the time-out and proxies (from `env`) are set on the options.
// Errors name what is missing, never a token or key.
core::Result<ApiAccess> ResolveAccess(const core::KubernetesOrchestratorConfig& config,
                                      const core::Env& env,
                                      const std::string& service_account_dir = kServiceAccountDir);

// The bearer token to send now: the fixed one, or the token file read again (tokens rotate).
// Empty when there is none; an error naming the file when it cannot be read.
core::Result<std::string> BearerToken(const ApiAccess& access);

// Standard base64 (as kubeconfig's *-data fields hold it), whitespace ignored; nullopt when
// invalid.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace obsgate::rollback::kubernetes
