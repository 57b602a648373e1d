#include "server/batching.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace berth::server {
namespace {

InferRequest Request(std::vector<NamedValue> inputs, std::vector<std::string> outputs = {}) {
  InferRequest request;
  request.inputs = std::move(inputs);
  request.outputs = std::move(outputs);
  return request;
}

core::Tensor Floats(std::vector<float> values, core::TensorShape shape) {
  return core::Tensor::FromVector<float>(values, std::move(shape));
}

TEST(Batching, RowsAreTheFirstDimension) {
  EXPECT_EQ(RequestRows(Request({{"x", Floats({1, 2, 3, 4, 5, 6}, {3, 2})}})), 3);
  EXPECT_EQ(RequestRows(Request({})), 1);
}

TEST(Batching, SignaturesAgreeButForTheFirstDimension) {
  const InferRequest a = Request({{"x", Floats({1, 2}, {1, 2})}, {"y", Floats({1}, {1, 1})}});
  // Same inputs in another order, more rows: compatible.
  EXPECT_TRUE(SameBatchSignature(a, Request({{"y", Floats({1, 2}, {2, 1})}, {"x", Floats({1, 2, 3, 4}, {2, 2})}})));
  // Another inner extent, data type, input name, input count or output list: not.
  EXPECT_FALSE(SameBatchSignature(a, Request({{"x", Floats({1, 2, 3}, {1, 3})}, {"y", Floats({1}, {1, 1})}})));
  EXPECT_FALSE(SameBatchSignature(
      a, Request({{"x", core::Tensor::FromVector<int32_t>({1, 2}, {1, 2})}, {"y", Floats({1}, {1, 1})}})));
  EXPECT_FALSE(SameBatchSignature(a, Request({{"x", Floats({1, 2}, {1, 2})}, {"z", Floats({1}, {1, 1})}})));
  EXPECT_FALSE(SameBatchSignature(a, Request({{"x", Floats({1, 2}, {1, 2})}})));
  EXPECT_FALSE(SameBatchSignature(a, Request({{"x", Floats({1, 2}, {1, 2})}, {"y", Floats({1}, {1, 1})}}, {"out"})));
  // A rank-0 input has no batch dimension to join along.
  const InferRequest scalar = Request({{"x", core::Tensor::Scalar<float>(1)}});
  EXPECT_FALSE(SameBatchSignature(scalar, scalar));
}

TEST(Batching, JoinThenSplitGivesEachRequestItsRows) {
  const InferRequest a =
      Request({{"x", Floats({1, 2}, {1, 2})}, {"s", core::Tensor::FromVector<std::string>({"a"}, {1, 1})}});
  const InferRequest b =
      Request({{"s", core::Tensor::FromVector<std::string>({"b", "c"}, {2, 1})}, {"x", Floats({3, 4, 5, 6}, {2, 2})}});
  const InferRequest* requests[] = {&a, &b};
  auto joined = JoinInputs(requests, core::HeapAllocator());
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  ASSERT_EQ(joined->size(), 2u);
  EXPECT_EQ((*joined)[0].first, "x");  // the first request's order
  const core::Tensor& x = (*joined)[0].second.tensor();
  EXPECT_EQ(x.shape(), (core::TensorShape{3, 2}));
  EXPECT_EQ(std::vector<float>(x.values<float>().begin(), x.values<float>().end()),
            (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const core::Tensor& s = (*joined)[1].second.tensor();
  EXPECT_EQ(std::vector<std::string>(s.values<std::string>().begin(), s.values<std::string>().end()),
            (std::vector<std::string>{"a", "b", "c"}));

  const int64_t rows[] = {1, 2};
  auto xs = SplitRows(x, rows);
  ASSERT_TRUE(xs.ok());
  ASSERT_EQ(xs->size(), 2u);
  EXPECT_EQ((*xs)[0].shape(), (core::TensorShape{1, 2}));
  EXPECT_EQ((*xs)[1].shape(), (core::TensorShape{2, 2}));
  EXPECT_EQ((*xs)[1].values<float>()[0], 3);
  EXPECT_EQ((*xs)[1].values<float>()[3], 6);
  EXPECT_EQ((*xs)[0].storage(), x.storage());  // views, not copies
  auto ss = SplitRows(s, rows);
  ASSERT_TRUE(ss.ok());
  EXPECT_EQ((*ss)[1].values<std::string>()[1], "c");
}

TEST(Batching, AnOutputThatIsNotPerRowCannotBeSplit) {
  const int64_t rows[] = {1, 2};
  EXPECT_EQ(SplitRows(Floats({1, 2}, {2}), rows).status().code(), core::StatusCode::kFailedPrecondition);
  EXPECT_EQ(SplitRows(core::Tensor::Scalar<float>(1), rows).status().code(), core::StatusCode::kFailedPrecondition);
  const int64_t empty_rows[] = {0, 0};
  auto empty = SplitRows(Floats({}, {0, 4}), empty_rows);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)[1].shape(), (core::TensorShape{0, 4}));
}

}  // namespace
}  // namespace berth::server
