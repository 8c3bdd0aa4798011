#include "net/http_client.hpp"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <thread>

#include "server/http_server.hpp"
#include "tests/fakes/http_proxy.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace obsgate::net {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

core::Env MapEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::unique_ptr<HttpClient> Client(const std::string& url, HttpClientOptions options = {}) {
  auto c = HttpClient::Create(url, std::move(options));
  EXPECT_TRUE(c.ok()) << c.error();
  return c.ok() ? std::move(c).value() : nullptr;
}

HttpCall Post(std::string target, std::string body) {
  HttpCall call;
  call.method = "POST";
  call.target = std::move(target);
  call.content_type = "application/json";
  call.body = std::move(body);
  return call;
}

// A real obsgate HttpServer on 127.0.0.1:0 recording what it was sent.
class Origin {
 public:
  explicit Origin(server::ServerOptions options = {}) : server_(options, registry_) {}
  void Route(std::string method, std::string path, server::Handler handler) {
    server_.Route(std::move(method), path, path, [this, handler](const server::Request& r) {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(r);
      }
      return handler(r);
    });
  }
  std::uint16_t Start() {
    EXPECT_TRUE(server_.Start().ok());
    return server_.port();
  }
  std::vector<server::Request> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  ~Origin() { server_.Stop(std::chrono::seconds(5)); }

 private:
  prometheus::Registry registry_;
  server::HttpServer server_;
  std::mutex mu_;
  std::vector<server::Request> seen_;
};

TEST(HttpClientTest, PostsBodyAndHeadersAndReusesTheConnection) {
  Origin origin;
  origin.Route("POST", "/v2/enqueue", [](const server::Request& r) {
    return server::Response::Json(202, "{\"got\":" + std::to_string(r.body.size()) + "}");
  });
  fakes::TcpRelay relay(origin.Start());
  HttpClientOptions options;
  options.headers = {{"X-Team", "payments"}};
  auto client = Client("http://127.0.0.1:" + std::to_string(relay.port()) + "/", options);
  for (int i = 0; i < 3; ++i) {
    HttpCall call = Post("/v2/enqueue", "{\"event_action\":\"trigger\"}");
    call.headers = {{"X-Routing-Key", "abc"}};
    HttpFetch f = client->Send(call);
    ASSERT_TRUE(f.ok) << f.error;
    EXPECT_EQ(f.status, 202);
    EXPECT_EQ(f.body, "{\"got\":26}");
    EXPECT_THAT(f.content_type, HasSubstr("application/json"));
  }
  EXPECT_EQ(relay.connections(), 1);  // keep-alive: one connection for all three
  auto seen = origin.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].body, "{\"event_action\":\"trigger\"}");
  EXPECT_EQ(seen[0].HeaderValue("content-type"), "application/json");
  EXPECT_EQ(seen[0].HeaderValue("x-routing-key"), "abc");
  EXPECT_EQ(seen[0].HeaderValue("x-team"), "payments");
  EXPECT_EQ(seen[0].HeaderValue("host"), "127.0.0.1:" + std::to_string(relay.port()));
}

TEST(HttpClientTest, ErrorStatusKeepsBodyAndRetryAfterAndHidesThePath) {
  Origin origin;
  origin.Route("POST", "/services/T000/B000/XXXXSECRET", [](const server::Request&) {
    server::Response r = server::Response::Text(429, "rate_limited");
    r.headers.push_back({"Retry-After", "7"});
    return r;
  });
  std::uint16_t port = origin.Start();
  auto client = Client("http://127.0.0.1:" + std::to_string(port) +
                       "/services/T000/B000/XXXXSECRET?token=hunter2");
  HttpFetch f = client->Send(Post("", "{}"));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "http_status");
  EXPECT_EQ(f.status, 429);
  EXPECT_EQ(f.retry_after, "7");
  EXPECT_EQ(f.body, "rate_limited");
  EXPECT_THAT(f.error, HasSubstr("127.0.0.1:" + std::to_string(port)));
  EXPECT_THAT(f.error, Not(HasSubstr("SECRET")));
  EXPECT_THAT(f.error, Not(HasSubstr("hunter2")));
  ASSERT_EQ(origin.seen().size(), 1u);  // the URL's own path and query when the call has none
  EXPECT_EQ(origin.seen()[0].target, "/services/T000/B000/XXXXSECRET?token=hunter2");
}

TEST(HttpClientTest, GetWantsExactly200AndSendAny2xx) {
  Origin origin;
  origin.Route("GET", "/metrics",
               [](const server::Request&) { return server::Response::Text(204, ""); });
  auto client = Client("http://127.0.0.1:" + std::to_string(origin.Start()) + "/metrics");
  HttpFetch get = client->Get();
  EXPECT_FALSE(get.ok);
  EXPECT_EQ(get.reason, "http_status");
  HttpCall call;
  HttpFetch send = client->Send(call);
  EXPECT_TRUE(send.ok) << send.error;
  EXPECT_EQ(send.status, 204);
}

TEST(HttpClientTest, SlowAnswerTimesOut) {
  Origin origin;
  origin.Route("POST", "/slow", [](const server::Request&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return server::Response::Text(200, "late");
  });
  HttpClientOptions options;
  options.timeout = std::chrono::milliseconds(300);
  auto client = Client("http://127.0.0.1:" + std::to_string(origin.Start()) + "/slow", options);
  HttpFetch f = client->Send(Post("", "{}"));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "timeout");
  EXPECT_THAT(f.error, Not(HasSubstr("/slow")));
}

TEST(HttpClientTest, ReconnectsWhenTheServerClosedTheIdleConnection) {
  server::ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  Origin origin(options);
  origin.Route("POST", "/hook",
               [](const server::Request&) { return server::Response::Text(200, "ok"); });
  fakes::TcpRelay relay(origin.Start());
  auto client = Client("http://127.0.0.1:" + std::to_string(relay.port()) + "/hook");
  ASSERT_TRUE(client->Send(Post("", "1")).ok);
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // past the idle time-out
  HttpFetch f = client->Send(Post("", "2"));
  EXPECT_TRUE(f.ok) << f.error;
  EXPECT_EQ(relay.connections(), 2);
  EXPECT_EQ(origin.seen().size(), 2u);  // each POST arrived once
}

// Answers requests on kept-alive connections, but drops the connection without an answer at
// the `drop_at`-th request (1-based): a server that closed as the request arrived.
class DroppingServer {
 public:
  explicit DroppingServer(int drop_at) : drop_at_(drop_at) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listener_, 8);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~DroppingServer() {
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    ::close(listener_);
  }
  std::uint16_t port() const { return port_; }
  int requests() const { return requests_; }

 private:
  void Run() {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      std::string data;
      char buf[4096];
      for (;;) {
        std::size_t end = data.find("\r\n\r\n");
        if (end == std::string::npos) {
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          data.append(buf, static_cast<std::size_t>(n));
          continue;
        }
        std::size_t cl = data.find("Content-Length: ");
        std::size_t body =
            cl != std::string::npos && cl < end ? std::stoul(data.substr(cl + 16)) : 0;
        while (data.size() < end + 4 + body) {
          ssize_t n = ::recv(fd, buf, sizeof buf, 0);
          if (n <= 0) break;
          data.append(buf, static_cast<std::size_t>(n));
        }
        data.erase(0, end + 4 + body);
        if (++requests_ == drop_at_) break;
        std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
    }
  }
  int drop_at_;
  int listener_;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

TEST(HttpClientTest, GetIsRetriedOnceWhenAReusedConnectionDropsWithoutAnAnswer) {
  DroppingServer server(2);
  auto client = Client("http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");
  ASSERT_TRUE(client->Get().ok);
  HttpFetch f = client->Get();
  EXPECT_TRUE(f.ok) << f.error;
  EXPECT_EQ(server.requests(), 3);
}

TEST(HttpClientTest, PostIsNotResentWhenTheServerMayHaveActedOnIt) {
  DroppingServer server(2);
  auto client = Client("http://127.0.0.1:" + std::to_string(server.port()) + "/hook");
  ASSERT_TRUE(client->Send(Post("", "1")).ok);
  HttpFetch f = client->Send(Post("", "2"));
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "read");
  EXPECT_EQ(server.requests(), 2);  // the dropped POST was not sent again
}

TEST(HttpClientTest, RefusesHeadersThatWouldSplitTheRequest) {
  HttpCall call;
  call.headers = {{"X-Note", "a\r\nX-Injected: 1"}};
  auto client = Client("http://127.0.0.1:9/");
  HttpFetch f = client->Send(call);
  EXPECT_EQ(f.reason, "request");
}

TEST(HttpClientTest, CreateRefusesBadUrlsWithoutEchoingThem) {
  auto bad = HttpClient::Create("ftp://hooks.example.test/services/SECRET", {});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), Not(HasSubstr("SECRET")));
  EXPECT_FALSE(HttpClient::Create("http://host:99999/x", {}).ok());
  EXPECT_FALSE(HttpClient::Create("https://user:pw@host/x", {}).ok());
}

// --- Proxy choice from the environment, as curl and Go's net/http read it ---

TEST(ProxyForTest, PicksTheVariableForTheScheme) {
  auto env =
      MapEnv({{"HTTPS_PROXY", "http://secure-proxy:3128"}, {"http_proxy", "plain-proxy:8080"}});
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/services/x", env), "secure-proxy:3128");
  EXPECT_EQ(ProxyFor("http://exporter.internal:9100/metrics", env), "plain-proxy:8080");
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/", nullptr), "");
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/", MapEnv({{"https_proxy", "p:1"}})), "p:1");
  EXPECT_EQ(ProxyFor("https://hooks.slack.com/", MapEnv({{"HTTP_PROXY", "p:1"}})), "");
  // Loopback never goes through a proxy.
  EXPECT_EQ(ProxyFor("https://localhost:8443/", env), "");
  EXPECT_EQ(ProxyFor("https://127.0.0.1:8443/", env), "");
  EXPECT_EQ(ProxyFor("https://[::1]:8443/", env), "");
}

TEST(ProxyForTest, NoProxyMatchesLikeCurlAndGo) {
  auto with = [](std::string no_proxy) {
    return MapEnv({{"HTTPS_PROXY", "proxy:3128"}, {"NO_PROXY", std::move(no_proxy)}});
  };
  auto direct = [&](const std::string& url, const std::string& no_proxy) {
    return ProxyFor(url, with(no_proxy)).empty();
  };
  EXPECT_TRUE(direct("https://anything.example/", "*"));
  EXPECT_TRUE(direct("https://example.com/", "example.com"));
  EXPECT_TRUE(direct("https://api.example.com/", "example.com"));
  EXPECT_TRUE(direct("https://api.example.com/", ".example.com"));
  EXPECT_TRUE(direct("https://example.com/", ".example.com"));
  EXPECT_TRUE(direct("https://a.b.example.com/", "*.example.com"));
  EXPECT_TRUE(direct("https://API.Example.COM/", "example.com"));
  EXPECT_FALSE(direct("https://badexample.com/", "example.com"));
  EXPECT_FALSE(direct("https://example.com.evil.test/", "example.com"));
  EXPECT_TRUE(direct("https://other.test/", " foo.test , other.test "));
  EXPECT_TRUE(direct("https://10.1.2.3/", "10.1.2.3"));
  EXPECT_FALSE(direct("https://10.1.2.4/", "10.1.2.3"));
  EXPECT_TRUE(direct("https://10.1.2.3/", "10.0.0.0/8"));
  EXPECT_FALSE(direct("https://11.1.2.3/", "10.0.0.0/8"));
  EXPECT_TRUE(direct("https://[fd00::1]/", "fd00::/8"));
  EXPECT_TRUE(direct("https://[fd00::1]/", "[fd00::1]"));
  EXPECT_TRUE(direct("https://example.com:8443/", "example.com:8443"));
  EXPECT_FALSE(direct("https://example.com/", "example.com:8443"));
  EXPECT_TRUE(direct("https://example.com/", "example.com:443"));
  EXPECT_FALSE(direct("https://example.com/", ""));
  EXPECT_TRUE(ProxyFor("https://example.com/",
                       MapEnv({{"HTTPS_PROXY", "proxy:3128"}, {"no_proxy", "example.com"}}))
                  .empty());
}

TEST(ProxyForTest, UnsupportedProxyFailsCreateWithoutCredentials) {
  HttpClientOptions options;
  options.env = MapEnv({{"HTTPS_PROXY", "socks5://alice:s3cret@proxy:1080"}});
  auto c = HttpClient::Create("https://hooks.example.test/", options);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error(), HasSubstr("HTTPS_PROXY"));
  EXPECT_THAT(c.error(), Not(HasSubstr("s3cret")));
}

// --- TLS against a real OpenSSL server ---

using testing::HaveProgram;
using testing::Process;
using testing::RunCommand;
using testing::TempDir;

// A CA and certificates it signed, made with the openssl CLI in a temporary directory.
class Pki {
 public:
  Pki() {
    Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", Path("ca.key"), "-out", Path("ca.pem"), "-days", "2", "-subj",
         "/CN=obsgate test CA"});
  }
  // Issues name.pem / name.key for the subject alternative names given ("DNS:localhost,...").
  void Issue(const std::string& name, const std::string& san) {
    std::string ext = dir_.Write(name + ".ext", "subjectAltName=" + san + "\n");
    Run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", Path(name + ".key"), "-out", Path(name + ".csr"), "-subj", "/CN=" + name});
    Run({"openssl", "x509", "-req", "-in", Path(name + ".csr"), "-CA", Path("ca.pem"), "-CAkey",
         Path("ca.key"), "-CAcreateserial", "-out", Path(name + ".pem"), "-days", "2", "-extfile",
         ext});
  }
  std::string Path(const std::string& file) const { return dir_.path() + "/" + file; }
  const TempDir& dir() const { return dir_; }

 private:
  void Run(const std::vector<std::string>& argv) {
    auto r = RunCommand(argv);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  TempDir dir_;
};

// `openssl s_server -WWW` serving files from `pki`'s directory.
std::unique_ptr<Process> StartTlsServer(const Pki& pki, std::uint16_t port,
                                        const std::vector<std::string>& extra) {
  std::string cmd =
      "cd '" + pki.dir().path() + "' && exec openssl s_server -WWW -accept " + std::to_string(port);
  for (const auto& a : extra) cmd += " '" + a + "'";
  auto p = Process::Start({"sh", "-c", cmd});
  // s_server prints ACCEPT once listening.
  EXPECT_TRUE(p->WaitForOutput("ACCEPT", std::chrono::seconds(10))) << p->Output();
  return p;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(HaveProgram("openssl")) << "install the Debian openssl package";
    pki_.Issue("localhost", "DNS:localhost,IP:127.0.0.1");
    pki_.Issue("other.test", "DNS:other.test");
    pki_.Issue("hooks.example.test", "DNS:hooks.example.test");
    pki_.dir().Write("hello.txt", "hello over TLS\n");
    port_ = testing::FreePort();
  }
  std::string Url(const std::string& host) const {
    return "https://" + host + ":" + std::to_string(port_) + "/hello.txt";
  }
  HttpClientOptions WithCa() const {
    HttpClientOptions o;
    o.ca_file = pki_.Path("ca.pem");
    return o;
  }
  std::vector<std::string> Cert(const std::string& name) const {
    return {"-cert", pki_.Path(name + ".pem"), "-key", pki_.Path(name + ".key")};
  }
  Pki pki_;
  std::uint16_t port_ = 0;
};

TEST_F(TlsTest, VerifiesTheServerWithTheCaFile) {
  auto server = StartTlsServer(pki_, port_, Cert("localhost"));
  auto client = Client(Url("localhost"), WithCa());
  HttpFetch f = client->Get();
  EXPECT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.body, "hello over TLS\n");
  // A second exchange after s_server closed the HTTP/1.0 connection works too.
  EXPECT_TRUE(client->Get().ok);
}

TEST_F(TlsTest, RefusesAServerItCannotVerify) {
  auto server = StartTlsServer(pki_, port_, Cert("localhost"));
  HttpFetch f = Client(Url("localhost"))->Get();
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "tls");
  EXPECT_THAT(f.error, HasSubstr("localhost:" + std::to_string(port_)));
  EXPECT_THAT(f.error, Not(HasSubstr("hello.txt")));
}

TEST_F(TlsTest, RefusesACertificateForAnotherName) {
  auto server = StartTlsServer(pki_, port_, Cert("other.test"));
  HttpFetch f = Client(Url("localhost"), WithCa())->Get();
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "tls");
}

TEST_F(TlsTest, SendsTheUrlsHostAsSni) {
  // The default certificate is for other.test; only a client naming "localhost" in SNI gets the
  // one that verifies.
  auto args = Cert("other.test");
  args.insert(args.end(), {"-servername", "localhost", "-cert2", pki_.Path("localhost.pem"),
                           "-key2", pki_.Path("localhost.key")});
  auto server = StartTlsServer(pki_, port_, args);
  HttpFetch f = Client(Url("localhost"), WithCa())->Get();
  EXPECT_TRUE(f.ok) << f.error;
  // An IP literal is never sent as SNI, so that client gets the default certificate.
  HttpFetch by_ip = Client(Url("127.0.0.1"), WithCa())->Get();
  EXPECT_EQ(by_ip.reason, "tls");
}

TEST_F(TlsTest, TrustsCaDataGivenAsPemText) {
  auto server = StartTlsServer(pki_, port_, Cert("localhost"));
  std::ifstream in(pki_.Path("ca.pem"));
  HttpClientOptions options;
  options.ca_pem.assign(std::istreambuf_iterator<char>(in), {});
  HttpFetch f = Client(Url("localhost"), options)->Get();
  EXPECT_TRUE(f.ok) << f.error;
  options.ca_pem = "not a certificate";
  auto bad = HttpClient::Create(Url("localhost"), options);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error(), HasSubstr("CA certificate data is not PEM"));
}

// A server that asks for a client certificate signed by the test CA (-Verify) refuses clients
// without one; a kubeconfig user with client-certificate(-data) gets in.
TEST_F(TlsTest, PresentsTheClientCertificateFromFilesOrPem) {
  pki_.Issue("obsgate-client", "DNS:obsgate-client");
  auto args = Cert("localhost");
  args.insert(args.end(), {"-Verify", "1", "-CAfile", pki_.Path("ca.pem")});
  auto server = StartTlsServer(pki_, port_, args);
  EXPECT_FALSE(Client(Url("localhost"), WithCa())->Get().ok);

  HttpClientOptions files = WithCa();
  files.client_cert_file = pki_.Path("obsgate-client.pem");
  files.client_key_file = pki_.Path("obsgate-client.key");
  HttpFetch f = Client(Url("localhost"), files)->Get();
  EXPECT_TRUE(f.ok) << f.error;

  auto read = [&](const std::string& name) {
    std::ifstream in(pki_.Path(name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  HttpClientOptions pem = WithCa();
  pem.client_cert_pem = read("obsgate-client.pem");
  pem.client_key_pem = read("obsgate-client.key");
  f = Client(Url("localhost"), pem)->Get();
  EXPECT_TRUE(f.ok) << f.error;
}

TEST_F(TlsTest, RefusesAClientKeyThatIsNotTheCertificates) {
  pki_.Issue("obsgate-client", "DNS:obsgate-client");
  HttpClientOptions o = WithCa();
  o.client_cert_file = pki_.Path("obsgate-client.pem");
  o.client_key_file = pki_.Path("localhost.key");
  auto c = HttpClient::Create(Url("localhost"), o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error(), HasSubstr("does not belong to the client certificate"));
  o.client_key_file.clear();
  c = HttpClient::Create(Url("localhost"), o);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.error(), HasSubstr("needs its key"));
}

// --- Proxies ---

TEST_F(TlsTest, HttpsGoesThroughTheProxyTunnelWithCredentials) {
  auto server = StartTlsServer(pki_, port_, Cert("hooks.example.test"));
  fakes::HttpProxy proxy;
  HttpClientOptions options = WithCa();
  options.env =
      MapEnv({{"HTTPS_PROXY", "http://alice:s%33cret@127.0.0.1:" + std::to_string(proxy.port())}});
  // hooks.example.test does not resolve here: only the proxy can reach it.
  auto client = Client(Url("hooks.example.test"), options);
  HttpFetch f = client->Get();
  EXPECT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.body, "hello over TLS\n");
  EXPECT_THAT(proxy.connect_targets(), ElementsAre("hooks.example.test:" + std::to_string(port_)));
  EXPECT_THAT(proxy.authorizations(), ElementsAre("Basic YWxpY2U6czNjcmV0"));  // alice:s3cret
}

TEST_F(TlsTest, ProxyRefusingConnectIsReportedWithoutCredentials) {
  fakes::HttpProxy proxy;
  proxy.RefuseConnect(403);
  HttpClientOptions options = WithCa();
  std::string proxy_where = "127.0.0.1:" + std::to_string(proxy.port());
  options.env = MapEnv({{"HTTPS_PROXY", "http://alice:s3cret@" + proxy_where}});
  HttpFetch f = Client(Url("hooks.example.test"), options)->Get();
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.reason, "proxy");
  EXPECT_THAT(f.error, HasSubstr("the proxy " + proxy_where + " refused CONNECT to " +
                                 "hooks.example.test:" + std::to_string(port_) + " with HTTP 403"));
  EXPECT_THAT(f.error, Not(HasSubstr("s3cret")));
  EXPECT_THAT(f.error, Not(HasSubstr("alice")));
  EXPECT_THAT(f.error, Not(HasSubstr("hello.txt")));
}

TEST(ProxyTest, UnreachableProxyIsReportedAsProxy) {
  HttpClientOptions options;
  std::string where = "127.0.0.1:" + std::to_string(testing::FreePort());
  options.env = MapEnv({{"HTTPS_PROXY", "http://alice:s3cret@" + where}});
  HttpFetch f = Client("https://hooks.example.test/services/SECRET", options)->Send(Post("", "{}"));
  EXPECT_EQ(f.reason, "proxy");
  EXPECT_THAT(f.error, HasSubstr(where));
  EXPECT_THAT(f.error, Not(HasSubstr("s3cret")));
  EXPECT_THAT(f.error, Not(HasSubstr("SECRET")));
}

TEST(ProxyTest, HttpGoesThroughTheProxyInAbsoluteForm) {
  Origin origin;
  origin.Route("POST", "/v1/events", [](const server::Request& r) {
    return server::Response::Text(200, "got " + r.body);
  });
  std::string port = std::to_string(origin.Start());
  fakes::HttpProxy proxy;
  HttpClientOptions options;
  options.env = MapEnv({{"HTTP_PROXY", "http://bob:pw@127.0.0.1:" + std::to_string(proxy.port())}});
  auto client = Client("http://events.example.test:" + port + "/v1/events?tenant=a", options);
  for (int i = 0; i < 2; ++i) {
    HttpFetch f = client->Send(Post("", "x"));
    EXPECT_TRUE(f.ok) << f.error;
    EXPECT_EQ(f.body, "got x");
  }
  std::string absolute = "http://events.example.test:" + port + "/v1/events?tenant=a";
  EXPECT_THAT(proxy.forwarded_targets(), ElementsAre(absolute, absolute));
  EXPECT_THAT(proxy.authorizations(), ElementsAre("Basic Ym9iOnB3", "Basic Ym9iOnB3"));
  auto seen = origin.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].HeaderValue("host"), "events.example.test:" + port);
  EXPECT_EQ(seen[0].HeaderValue("proxy-authorization"), "");
}

TEST(ProxyTest, NoProxyHostsGoDirect) {
  fakes::HttpProxy proxy;
  HttpClientOptions options;
  options.env = MapEnv({{"HTTP_PROXY", "127.0.0.1:" + std::to_string(proxy.port())},
                        {"NO_PROXY", "localhost,.internal.test"}});
  // Direct, so the client itself must resolve the name, which does not exist here.
  HttpFetch f = Client("http://exporter.internal.test:9100/metrics", options)->Get();
  EXPECT_EQ(f.reason, "connect");
  EXPECT_THAT(f.error, HasSubstr("exporter.internal.test"));
  EXPECT_TRUE(proxy.forwarded_targets().empty());
  EXPECT_TRUE(proxy.connect_targets().empty());
}

}  // namespace
}  // namespace obsgate::net
