// SPDX-License-Identifier: Apache-2.0
#include "broker/metadata_store.h"

#include <span>
#include <utility>

#include "log/base/coding.h"

namespace sluice::broker {

namespace {

std::span<const std::byte> AsBytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

std::string EncodeStore(const MetadataStore::StreamMap& streams, StreamId next_id) {
  std::string p;
  std::byte id[sizeof(uint64_t)];
  EncodeFixed<uint64_t>(id, next_id.value());
  p.append(reinterpret_cast<const char*>(id), sizeof(id));
  PutVarint64(&p, streams.size());
  for (const auto& [name, meta] : streams) {
    const std::string image = EncodeStreamMetadata(meta);
    PutVarint64(&p, image.size());
    p.append(image);
  }
  return FrameImage(kStoreImageMagic, kStoreImageVersion, p);
}

Status DecodeStore(std::string_view image, MetadataStore::StreamMap* streams, StreamId* next_id) {
  SLUICE_ASSIGN_OR_RETURN(
      std::string_view payload,
      UnframeImage(image, kStoreImageMagic, kStoreImageVersion, "metadata store"));
  std::span<const std::byte> in = AsBytes(payload);
  if (in.size() < sizeof(uint64_t)) return Status::Corruption("metadata store: truncated");
  *next_id = StreamId(DecodeFixed<uint64_t>(in.data()));
  in = in.subspan(sizeof(uint64_t));
  std::optional<uint64_t> count = GetVarint64(&in);
  if (!count) return Status::Corruption("metadata store: truncated stream count");
  for (uint64_t i = 0; i < *count; ++i) {
    std::optional<uint64_t> len = GetVarint64(&in);
    if (!len || *len > in.size()) return Status::Corruption("metadata store: truncated stream");
    const std::string_view stream(reinterpret_cast<const char*>(in.data()), *len);
    in = in.subspan(*len);
    SLUICE_ASSIGN_OR_RETURN(StreamMetadata meta, DecodeStreamMetadata(stream));
    if (meta.id >= *next_id) return Status::Corruption("metadata store: stream id >= next id");
    std::string name = meta.name;
    if (!streams->emplace(std::move(name), std::move(meta)).second) {
      return Status::Corruption("metadata store: duplicate stream name");
    }
  }
  if (!in.empty()) return Status::Corruption("metadata store: trailing bytes");
  return Status::OK();
}

Result<std::string> ReadWholeFile(log::io::FileSystem* fs, const std::string& path) {
  SLUICE_ASSIGN_OR_RETURN(std::unique_ptr<log::io::File> file, fs->Open(path, {.read_only = true}));
  SLUICE_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string data(size, '\0');
  size_t done = 0;
  while (done < data.size()) {
    auto out = std::as_writable_bytes(std::span<char>(data.data() + done, data.size() - done));
    SLUICE_ASSIGN_OR_RETURN(size_t n, file->ReadAt(done, out));
    if (n == 0) break;  // Shrunk under us: the decoder reports the short image.
    done += n;
  }
  data.resize(done);
  return data;
}

}  // namespace

MetadataStore::MetadataStore(log::io::FileSystem* fs, std::string dir)
    : fs_(fs),
      dir_(std::move(dir)),
      path_(dir_ + "/" + std::string(kMetadataFileName)),
      temp_path_(dir_ + "/" + std::string(kMetadataTempFileName)) {}

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(log::io::FileSystem* fs,
                                                           std::string dir) {
  std::unique_ptr<MetadataStore> store(new MetadataStore(fs, std::move(dir)));
  SLUICE_TRY(fs->CreateDirs(store->dir_));
  SLUICE_TRY(store->Load());
  return store;
}

Status MetadataStore::Load() {
  if (fs_->Exists(temp_path_)) SLUICE_TRY(fs_->Remove(temp_path_).WithContext(temp_path_));
  if (!fs_->Exists(path_)) return Status::OK();
  SLUICE_ASSIGN_OR_RETURN(std::string image, ReadWholeFile(fs_, path_));
  return DecodeStore(image, &streams_, &next_id_).WithContext(path_);
}

const StreamMetadata* MetadataStore::Find(std::string_view name) const {
  auto it = streams_.find(name);
  return it == streams_.end() ? nullptr : &it->second;
}

Result<StreamId> MetadataStore::Create(StreamMetadata meta) {
  if (streams_.contains(meta.name)) {
    return Status::InvalidArgument("stream " + meta.name + " already exists");
  }
  const StreamId id = next_id_;
  meta.id = id;
  StreamMap next = streams_;
  std::string name = meta.name;
  next.emplace(std::move(name), std::move(meta));
  SLUICE_TRY(Commit(std::move(next), id.Next()));
  return id;
}

Status MetadataStore::Update(const StreamMetadata& meta) {
  auto it = streams_.find(meta.name);
  if (it == streams_.end()) return Status::NotFound("stream " + meta.name + " not found");
  if (it->second.id != meta.id) {
    return Status::InvalidArgument("stream " + meta.name + " has id " +
                                   std::to_string(it->second.id.value()) + ", not " +
                                   std::to_string(meta.id.value()));
  }
  StreamMap next = streams_;
  next[meta.name] = meta;
  return Commit(std::move(next), next_id_);
}

Status MetadataStore::Delete(std::string_view name) {
  auto it = streams_.find(name);
  if (it == streams_.end()) return Status::NotFound("stream " + std::string(name) + " not found");
  StreamMap next = streams_;
  next.erase(std::string(name));
  return Commit(std::move(next), next_id_);
}

Status MetadataStore::Commit(StreamMap streams, StreamId next_id) {
  if (!sticky_error_.ok()) return sticky_error_;
  const std::string image = EncodeStore(streams, next_id);
  // Invariant: until the Rename below, `path_` holds the previous image untouched. The temp
  // file is recreated from empty: OpenOptions::create never truncates.
  Status s;
  if (fs_->Exists(temp_path_)) s = fs_->Remove(temp_path_);
  if (s.ok()) {
    auto file = fs_->Open(temp_path_, {.create = true});
    s = file.status();
    if (s.ok()) s = (*file)->WriteAt(0, AsBytes(image));
    if (s.ok()) s = (*file)->Sync();
  }
  if (s.ok()) s = fs_->Rename(temp_path_, path_);
  if (!s.ok()) {
    (void)fs_->Remove(temp_path_);  // Best effort; Open removes a leftover too.
    return s.WithContext(temp_path_);
  }
  s = fs_->SyncDir(dir_);
  if (!s.ok()) {
    sticky_error_ = s.WithContext("sync " + dir_ + " after replacing " + path_);
    return sticky_error_;
  }
  streams_ = std::move(streams);
  next_id_ = next_id;
  return Status::OK();
}

}  // namespace sluice::broker
