// N-API glue for the VAE (models/vae.h, models/vae_trainer.h): one JS class,
// VaeModel, holding either an inference model or a trainer. Every method that
// computes or touches files runs on a worker thread and returns a Promise; calls
// on one model are serialized (a mutex per model), so JS may fire several.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "addon/js.h"
#include "core/autograd.h"
#include "models/vae.h"
#include "models/vae_shortcut.h"
#include "models/vae_trainer.h"

namespace tessera_js {

namespace {

using tessera::Tensor;
using tessera::models::Vae;
using tessera::models::VaeConfig;
using tessera::models::VaeTrainConfig;
using tessera::models::VaeTrainer;

struct VaeState {
  std::mutex mu;
  std::unique_ptr<Vae> vae;          // inference model (load / create without training)
  std::unique_ptr<VaeTrainer> trainer;  // or a trainer, which owns its model
  std::unique_ptr<tessera::models::LinearShortcutFit> shortcut_fit;  // between shortcutAdd and shortcutFit
  Vae& model() {
    if (trainer) return trainer->model();
    TS_CHECK(vae != nullptr, tessera::ErrorCode::InvalidArgument, "the VAE is not initialized (create, load or resume it first)");
    return *vae;
  }
};

// Runs work(state) on a worker thread under the model's mutex; result(env) builds
// the resolved value on the JS thread.
class VaeTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<void(VaeState&)>;
  using Result = std::function<Napi::Value(Napi::Env)>;
  VaeTask(Napi::Env env, std::shared_ptr<VaeState> state, Work work, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), state_(std::move(state)),
        work_(std::move(work)), result_(std::move(result)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    ok_ = guarded(
        [&] {
          std::lock_guard<std::mutex> lock(state_->mu);
          work_(*state_);
        },
        &code_, &message_);
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      deferred_.Reject(make_error(env, code_.c_str(), message_).Value());
      return;
    }
    std::string code, message;
    Napi::Value v;
    if (!guarded([&] { v = result_ ? result_(env) : env.Undefined(); }, &code, &message)) {
      deferred_.Reject(make_error(env, code.c_str(), message).Value());
      return;
    }
    deferred_.Resolve(v);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<VaeState> state_;
  Work work_;
  Result result_;
  bool ok_ = false;
  std::string code_, message_;
};

// ---- streaming decode ---------------------------------------------------------------
//
// decodeChunked(z, {chunk, tile, overlap}, onFrames): the worker decodes chunk after chunk
// and hands each one's frames to onFrames on the JS thread through a ThreadSafeFunction.
// Flow control: at most kMaxInFlight chunks are handed over and not yet finished (a
// callback is finished when it returns, or when the promise it returns settles), so a
// slow consumer (a file writer) holds the worker back instead of letting chunks pile
// up; the JS thread never waits for the worker. A callback that throws or rejects stops
// the decode (no further chunks) and the returned promise rejects with that error.

constexpr int kMaxInFlight = 2;

struct FrameFlow {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  bool failed = false;                 // a callback threw or rejected
  Napi::Reference<Napi::Value> error;  // its error (JS thread only)

  void finish_one() {
    std::lock_guard<std::mutex> lk(mu);
    --in_flight;
    cv.notify_all();
  }
  void fail(Napi::Value e) {  // JS thread
    if (!failed && !e.IsEmpty()) error = Napi::Persistent(e);
    std::lock_guard<std::mutex> lk(mu);
    failed = true;
    cv.notify_all();
  }
};

struct FrameChunk {
  Tensor frames;
  int64_t first;
};

struct StreamAborted {};  // thrown by the sink to stop decode_chunked after a failed callback

class DecodeStreamTask : public Napi::AsyncWorker {
 public:
  DecodeStreamTask(Napi::Env env, std::shared_ptr<VaeState> state, Tensor z, int64_t chunk,
                   tessera::models::VaeTiling tiling, Napi::Function on_frames)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), state_(std::move(state)),
        z_(std::move(z)), chunk_(chunk), tiling_(tiling), flow_(std::make_shared<FrameFlow>()) {
    if (!on_frames.IsEmpty()) {
      tsfn_ = Napi::ThreadSafeFunction::New(env, on_frames, "tessera.vae.decodeChunked", 0, 1);
      streaming_ = true;
    }
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    ok_ = guarded(
        [&] {
          std::lock_guard<std::mutex> lock(state_->mu);
          Vae& vae = state_->model();
          if (!streaming_) {
            whole_ = vae.decode_chunked(z_, chunk_, tiling_);
            return;
          }
          try {
            vae.decode_chunked(z_, chunk_, tiling_, [&](const Tensor& frames, int64_t first) { deliver(frames, first); });
          } catch (const StreamAborted&) {
          }
        },
        &code_, &message_);
    if (streaming_) {
      // Every handed-over chunk finished (or dropped) before the promise settles.
      std::unique_lock<std::mutex> lk(flow_->mu);
      flow_->cv.wait(lk, [&] { return flow_->in_flight == 0; });
      lk.unlock();
      tsfn_.Release();
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (flow_->failed) {
      deferred_.Reject(flow_->error.IsEmpty() ? make_error(env, "ERR_TESSERA_CALLBACK", "onFrames failed").Value()
                                              : flow_->error.Value());
      return;
    }
    if (!ok_) {
      deferred_.Reject(make_error(env, code_.c_str(), message_).Value());
      return;
    }
    if (!streaming_) {
      std::string code, message;
      Napi::Value v;
      if (!guarded([&] { v = tensor_to_js(env, whole_); }, &code, &message))
        deferred_.Reject(make_error(env, code.c_str(), message).Value());
      else
        deferred_.Resolve(v);
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("frames", double(frames_));
    o.Set("chunks", double(chunks_));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // Worker thread: waits for a free slot, then queues the chunk for the JS thread.
  void deliver(const Tensor& frames, int64_t first) {
    {
      std::unique_lock<std::mutex> lk(flow_->mu);
      flow_->cv.wait(lk, [&] { return flow_->failed || flow_->in_flight < kMaxInFlight; });
      if (flow_->failed) throw StreamAborted{};
      ++flow_->in_flight;
    }
    auto* chunk = new FrameChunk{frames.contiguous(), first};
    frames_ += frames.shape()[2];
    ++chunks_;
    std::shared_ptr<FrameFlow> flow = flow_;
    const napi_status st = tsfn_.BlockingCall(chunk, [flow](Napi::Env env, Napi::Function fn, FrameChunk* c) {
      std::unique_ptr<FrameChunk> own(c);
      if (env == nullptr || fn.IsEmpty()) {  // the environment is going away
        {
          std::lock_guard<std::mutex> lk(flow->mu);
          flow->failed = true;
        }
        flow->finish_one();
        return;
      }
      if (flow->failed) {  // an earlier callback failed: drop the rest
        flow->finish_one();
        return;
      }
      Napi::Value result;
      try {
        result = fn.Call({tensor_to_js(env, own->frames), Napi::Number::New(env, double(own->first))});
      } catch (const Napi::Error& e) {
        flow->fail(e.Value());
        flow->finish_one();
        return;
      }
      // A returned promise (any thenable) finishes the chunk when it settles.
      if (result.IsObject()) {
        Napi::Value then = result.As<Napi::Object>().Get("then");
        if (then.IsFunction()) {
          auto settled = Napi::Function::New(env, [flow](const Napi::CallbackInfo&) { flow->finish_one(); });
          auto rejected = Napi::Function::New(env, [flow](const Napi::CallbackInfo& info) {
            flow->fail(info.Length() > 0 ? info[0] : info.Env().Undefined());
            flow->finish_one();
          });
          try {
            then.As<Napi::Function>().Call(result, {settled, rejected});
          } catch (const Napi::Error& e) {
            flow->fail(e.Value());
            flow->finish_one();
          }
          return;
        }
      }
      flow->finish_one();
    });
    if (st != napi_ok) {
      delete chunk;
      {
        std::lock_guard<std::mutex> lk(flow_->mu);
        flow_->failed = true;
      }
      flow_->finish_one();
      throw StreamAborted{};
    }
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<VaeState> state_;
  Tensor z_;
  int64_t chunk_;
  tessera::models::VaeTiling tiling_;
  Napi::ThreadSafeFunction tsfn_;
  bool streaming_ = false;
  std::shared_ptr<FrameFlow> flow_;
  Tensor whole_;
  int64_t frames_ = 0, chunks_ = 0;
  bool ok_ = false;
  std::string code_, message_;
};

// {chunk, tile, overlap} (numbers; checked again by the model, which names the rule).
void stream_options(const Napi::Value& v, int64_t* chunk, tessera::models::VaeTiling* tiling) {
  if (v.IsUndefined() || v.IsNull()) return;
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "options must be an object {chunk, tile, overlap}");
  Napi::Object o = v.As<Napi::Object>();
  auto field = [&](const char* name, int64_t* out) {
    Napi::Value f = o.Get(name);
    if (f.IsUndefined()) return;
    if (!f.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("options.") + name + " must be a number");
    const double d = f.As<Napi::Number>().DoubleValue();
    if (d != double(int64_t(d)))
      throw Napi::RangeError::New(v.Env(), std::string("options.") + name + " must be an integer, got " + std::to_string(d));
    *out = int64_t(d);
  };
  field("chunk", chunk);
  field("tile", &tiling->tile);
  field("overlap", &tiling->overlap);
}

double number_field(const Napi::Object& o, const char* name, double fallback) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return fallback;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("train.") + name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

VaeTrainConfig train_from_js(const Napi::Value& v) {
  VaeTrainConfig t;
  if (v.IsUndefined() || v.IsNull()) return t;
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), "train options must be an object");
  Napi::Object o = v.As<Napi::Object>();
  t.lr = number_field(o, "lr", t.lr);
  t.beta1 = number_field(o, "beta1", t.beta1);
  t.beta2 = number_field(o, "beta2", t.beta2);
  t.eps = number_field(o, "eps", t.eps);
  t.weight_decay = number_field(o, "weightDecay", t.weight_decay);
  t.l1_weight = number_field(o, "l1Weight", t.l1_weight);
  t.mse_weight = number_field(o, "mseWeight", t.mse_weight);
  t.kl_weight = number_field(o, "klWeight", t.kl_weight);
  t.max_grad_norm = number_field(o, "maxGradNorm", t.max_grad_norm);
  t.seed = uint64_t(number_field(o, "seed", double(t.seed)));
  return t;
}

std::string string_arg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

class VaeModel : public Napi::ObjectWrap<VaeModel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "VaeModel",
                       {InstanceMethod("create", &VaeModel::Create), InstanceMethod("load", &VaeModel::Load),
                        InstanceMethod("resume", &VaeModel::Resume), InstanceMethod("step", &VaeModel::Step),
                        InstanceMethod("encode", &VaeModel::Encode), InstanceMethod("decode", &VaeModel::Decode),
                        InstanceMethod("encodeChunked", &VaeModel::EncodeChunked),
                        InstanceMethod("decodeChunked", &VaeModel::DecodeChunked),
                        InstanceMethod("saveModel", &VaeModel::SaveModel),
                        InstanceMethod("saveCheckpoint", &VaeModel::SaveCheckpoint),
                        InstanceMethod("setLearningRate", &VaeModel::SetLearningRate),
                        InstanceMethod("shortcutAdd", &VaeModel::ShortcutAdd),
                        InstanceMethod("shortcutFit", &VaeModel::ShortcutFit),
                        InstanceMethod("info", &VaeModel::Info)});
  }
  explicit VaeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VaeModel>(info), state_(std::make_shared<VaeState>()) {}

 private:
  Napi::Value run(Napi::Env env, VaeTask::Work work, VaeTask::Result result = nullptr) {
    auto* t = new VaeTask(env, state_, std::move(work), std::move(result));
    Napi::Promise p = t->promise();
    t->Queue();
    return p;
  }

  // create(configJson, train | null, seed): train null -> inference model
  Napi::Value Create(const Napi::CallbackInfo& info) {
    const std::string config_json = string_arg(info, 0, "config");
    const bool training = !(info[1].IsUndefined() || info[1].IsNull());
    const VaeTrainConfig train = train_from_js(info[1]);
    const uint64_t seed = info[2].IsNumber() ? uint64_t(info[2].As<Napi::Number>().Int64Value()) : 0;
    return run(info.Env(), [=](VaeState& s) {
      const VaeConfig config = VaeConfig::from_json(config_json);
      if (training) s.trainer = std::make_unique<VaeTrainer>(config, train, seed);
      else s.vae = std::make_unique<Vae>(config, seed);
    });
  }
  Napi::Value Load(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    return run(info.Env(), [=](VaeState& s) { s.vae = std::make_unique<Vae>(Vae::load(path)); });
  }
  Napi::Value Resume(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    return run(info.Env(), [=](VaeState& s) { s.trainer = std::make_unique<VaeTrainer>(VaeTrainer::resume(path)); });
  }
  // step(x) -> {step, loss, l1, mse, kl, gradNorm, psnr, ms}
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Tensor x = tensor_from_js(info[0], "x");
    auto stats = std::make_shared<tessera::models::VaeStepStats>();
    auto ms = std::make_shared<double>(0);
    return run(
        info.Env(),
        [=](VaeState& s) {
          TS_CHECK(s.trainer != nullptr, tessera::ErrorCode::InvalidArgument,
                   "step: this VAE was loaded for inference; create it with training options or resume a checkpoint");
          const auto t0 = std::chrono::steady_clock::now();
          *stats = s.trainer->step(x);
          *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("step", double(stats->step));
          o.Set("loss", stats->loss);
          o.Set("l1", stats->l1);
          o.Set("mse", stats->mse);
          o.Set("kl", stats->kl);
          o.Set("gradNorm", stats->grad_norm);
          o.Set("psnr", stats->psnr);
          o.Set("ms", *ms);
          return o;
        });
  }
  // encode(x) -> {mean, logvar}
  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Tensor x = tensor_from_js(info[0], "video");
    auto out = std::make_shared<std::pair<Tensor, Tensor>>();
    return run(
        info.Env(),
        [=](VaeState& s) {
          tessera::NoGradGuard ng;
          auto post = s.model().encode(tessera::Var(x));
          *out = {post.mean.value(), post.logvar.value()};
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("mean", tensor_to_js(env, out->first));
          o.Set("logvar", tensor_to_js(env, out->second));
          return o;
        });
  }
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Tensor z = tensor_from_js(info[0], "latent");
    auto out = std::make_shared<Tensor>();
    return run(
        info.Env(),
        [=](VaeState& s) {
          tessera::NoGradGuard ng;
          *out = s.model().decode(tessera::Var(z)).value();
        },
        [=](Napi::Env env) { return tensor_to_js(env, *out); });
  }
  // decodeChunked(z, {chunk, tile, overlap}, onFrames | null): with onFrames, each chunk's
  // frames go to onFrames(frames, firstFrame) and the promise resolves to {frames, chunks};
  // without, it resolves to the whole video.
  Napi::Value DecodeChunked(const Napi::CallbackInfo& info) {
    Tensor z = tensor_from_js(info[0], "latent");
    int64_t chunk = 2;
    tessera::models::VaeTiling tiling;
    stream_options(info[1], &chunk, &tiling);
    Napi::Function on_frames;
    if (info.Length() > 2 && !info[2].IsUndefined() && !info[2].IsNull()) {
      if (!info[2].IsFunction()) throw Napi::TypeError::New(info.Env(), "onFrames must be a function");
      on_frames = info[2].As<Napi::Function>();
    }
    auto* t = new DecodeStreamTask(info.Env(), state_, std::move(z), chunk, tiling, on_frames);
    Napi::Promise p = t->promise();
    t->Queue();
    return p;
  }
  // encodeChunked(x, {chunk, tile, overlap}) -> {mean, logvar}
  Napi::Value EncodeChunked(const Napi::CallbackInfo& info) {
    Tensor x = tensor_from_js(info[0], "video");
    int64_t chunk = 8;
    tessera::models::VaeTiling tiling;
    stream_options(info[1], &chunk, &tiling);
    auto out = std::make_shared<std::pair<Tensor, Tensor>>();
    return run(
        info.Env(),
        [=](VaeState& s) {
          auto post = s.model().encode_chunked(x, chunk, tiling);
          *out = {post.mean.value(), post.logvar.value()};
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("mean", tensor_to_js(env, out->first));
          o.Set("logvar", tensor_to_js(env, out->second));
          return o;
        });
  }
  Napi::Value SaveModel(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    // dtype: "f32" (default), "f16" or "bf16" (lib/vae.ts checks the value)
    const std::string name = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "f32";
    const tessera::DType dtype = name == "f16" ? tessera::DType::F16 : name == "bf16" ? tessera::DType::BF16 : tessera::DType::F32;
    return run(info.Env(), [=](VaeState& s) {
      if (s.trainer) s.trainer->save_model(path, dtype);
      else s.model().save(path, {}, dtype);
    });
  }
  Napi::Value SaveCheckpoint(const Napi::CallbackInfo& info) {
    const std::string path = string_arg(info, 0, "path");
    return run(info.Env(), [=](VaeState& s) {
      TS_CHECK(s.trainer != nullptr, tessera::ErrorCode::InvalidArgument,
               "saveCheckpoint: only a trainer has optimizer state; use saveModel for an inference model");
      s.trainer->save_checkpoint(path);
    });
  }
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "lr must be a number");
    const double lr = info[0].As<Napi::Number>().DoubleValue();
    return run(info.Env(), [=](VaeState& s) {
      TS_CHECK(s.trainer != nullptr, tessera::ErrorCode::InvalidArgument, "setLearningRate: not a trainer");
      s.trainer->set_lr(lr);
    });
  }
  // shortcutAdd(x, restart): x's latent cells join the linear shortcut's statistics
  // (models/vae_shortcut.h); restart drops those of an earlier, unfinished fit.
  Napi::Value ShortcutAdd(const Napi::CallbackInfo& info) {
    Tensor x = tensor_from_js(info[0], "clips");
    const bool restart = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    return run(info.Env(), [=](VaeState& s) {
      if (restart) s.shortcut_fit.reset();
      if (!s.shortcut_fit) s.shortcut_fit = std::make_unique<tessera::models::LinearShortcutFit>(s.model().config());
      s.shortcut_fit->add(x);
    });
  }
  // shortcutFit() -> {cellsFirst, cellsRest, mse, psnr}: sets the shortcut from the
  // statistics and forgets them.
  Napi::Value ShortcutFit(const Napi::CallbackInfo& info) {
    auto out = std::make_shared<tessera::models::LinearShortcutFitResult>();
    return run(
        info.Env(),
        [=](VaeState& s) {
          TS_CHECK(s.shortcut_fit != nullptr, tessera::ErrorCode::InvalidArgument,
                   "shortcutFit: no clips were added (call shortcutAdd first)");
          *out = s.shortcut_fit->apply(s.model());
          s.shortcut_fit.reset();
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("cellsFirst", double(out->cells_first));
          o.Set("cellsRest", double(out->cells_rest));
          o.Set("mse", out->mse);
          o.Set("psnr", out->psnr);
          return o;
        });
  }
  // info() -> {config (JSON), numParameters, steps, training}; waits for no running call
  Napi::Value Info(const Napi::CallbackInfo& info) {
    auto out = std::make_shared<std::tuple<std::string, int64_t, int64_t, bool>>();
    return run(
        info.Env(),
        [=](VaeState& s) {
          Vae& m = s.model();
          *out = {m.config().to_json(), m.num_parameters(), s.trainer ? s.trainer->steps() : 0, s.trainer != nullptr};
        },
        [=](Napi::Env env) -> Napi::Value {
          Napi::Object o = Napi::Object::New(env);
          o.Set("config", std::get<0>(*out));
          o.Set("numParameters", double(std::get<1>(*out)));
          o.Set("steps", double(std::get<2>(*out)));
          o.Set("training", std::get<3>(*out));
          return o;
        });
  }

  std::shared_ptr<VaeState> state_;
};

}  // namespace

void register_vae(Napi::Env env, Napi::Object exports) { exports.Set("VaeModel", VaeModel::Define(env)); }

}  // namespace tessera_js
