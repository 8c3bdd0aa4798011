#include "app/cluster.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <map>
#include <string>

namespace obsgate::app {
namespace {

std::unique_ptr<Cluster> Make(std::vector<std::string> peers, prometheus::Registry& registry) {
  core::ClusterConfig c;
  std::sort(peers.begin(), peers.end());
  c.peers = peers;
  c.self = peers.front();
  auto cluster = Cluster::Create(c, "", registry);
  EXPECT_TRUE(cluster.ok()) << cluster.error();
  return std::move(cluster).value();
}

TEST(Cluster, EachDeploymentHasOneOwnerAndTheyShareEvenly) {
  prometheus::Registry registry;
  auto cluster = Make({"http://a:9090", "http://b:9090", "http://c:9090"}, registry);
  std::map<std::string, int> owned;
  for (int i = 0; i < 3000; ++i) {
    const std::string& owner = cluster->OwnerOf("shop", "svc-" + std::to_string(i));
    EXPECT_EQ(&owner, &cluster->OwnerOf("shop", "svc-" + std::to_string(i)));
    ++owned[owner];
  }
  ASSERT_EQ(owned.size(), 3u);
  for (const auto& [peer, n] : owned) {
    EXPECT_GT(n, 850) << peer;
    EXPECT_LT(n, 1150) << peer;
  }
}

TEST(Cluster, APeerAddedTakesOnlyItsShare) {
  prometheus::Registry r1, r2;
  auto two = Make({"http://a:9090", "http://b:9090"}, r1);
  auto three = Make({"http://a:9090", "http://b:9090", "http://c:9090"}, r2);
  int moved = 0, to_new = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string d = "svc-" + std::to_string(i);
    const std::string& before = two->OwnerOf("prod", d);
    const std::string& after = three->OwnerOf("prod", d);
    if (before != after) {
      ++moved;
      if (after == "http://c:9090") ++to_new;
    }
  }
  EXPECT_EQ(moved, to_new) << "a deployment moved between the peers that were there before";
  EXPECT_GT(moved, 800);
  EXPECT_LT(moved, 1200);
}

}  // namespace
}  // namespace obsgate::app
