#include "schedules/schedule.h"

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace trident {

std::string_view placement_name(Placement p) { return p == Placement::kLoop ? "loop" : "v"; }

Placement parse_placement(std::string_view name) {
  if (name == "loop") return Placement::kLoop;
  if (name == "v") return Placement::kVShape;
  TRIDENT_FAIL("unknown placement '", name, "': use loop (chunk c on stage c mod pp) or v (stage r holds r and 2pp-1-r)");
}

int Schedule::stage_of(int chunk) const {
  TRIDENT_CHECK(chunk >= 0 && chunk < num_chunks(), "chunk ", chunk, " is outside [0, ", num_chunks(), ")");
  if (placement == Placement::kVShape) return chunk < pp ? chunk : 2 * pp - 1 - chunk;
  return chunk % pp;
}

std::vector<int> Schedule::chunks_of(int stage) const {
  std::vector<int> out;
  for (int c = 0; c < num_chunks(); ++c)
    if (stage_of(c) == stage) out.push_back(c);
  return out;
}

bool Schedule::lowered() const {
  for (const auto& r : stages)
    for (const Action& a : r)
      if (!a.is_compute()) return true;
  return false;
}

std::string Schedule::to_text() const {
  std::ostringstream os;
  os << "schedule " << (name.empty() ? "custom" : name) << " pp=" << pp << " v=" << v
     << " micro_batches=" << micro_batches << " placement=" << placement_name(placement) << "\n";
  for (std::size_t r = 0; r < stages.size(); ++r) {
    os << "stage" << r << ":";
    for (const Action& a : stages[r]) os << " " << a.str();
    os << "\n";
  }
  return os.str();
}

namespace {
int header_int(const std::string& key, const std::string& value, int line) {
  try {
    std::size_t used = 0;
    const int v = std::stoi(value, &used);
    if (used == value.size() && v >= 1) return v;
  } catch (const std::exception&) {
  }
  TRIDENT_FAIL("schedule line ", line, ": ", key, "=", value, " must be a positive integer");
}
}  // namespace

Schedule Schedule::from_text(std::string_view text) {
  Schedule s;
  s.name = "custom";
  bool header = false;
  std::istringstream in{std::string(text)};
  std::string raw;
  int line_no = 0;
  while (std::getline(in, raw)) {
    ++line_no;
    if (const auto hash = raw.find('#'); hash != std::string::npos) raw.resize(hash);
    std::istringstream words(raw);
    std::string first;
    if (!(words >> first)) continue;
    if (!header) {
      TRIDENT_CHECK(first == "schedule", "schedule line ", line_no,
                    ": the first line must be 'schedule NAME pp=P v=V micro_batches=M [placement=loop|v]'");
      std::string tok;
      if (words >> tok) s.name = tok;
      while (words >> tok) {
        const auto eq = tok.find('=');
        TRIDENT_CHECK(eq != std::string::npos, "schedule line ", line_no, ": expected key=value, got '", tok, "'");
        const std::string key = tok.substr(0, eq), value = tok.substr(eq + 1);
        if (key == "pp") s.pp = header_int(key, value, line_no);
        else if (key == "v") s.v = header_int(key, value, line_no);
        else if (key == "micro_batches") s.micro_batches = header_int(key, value, line_no);
        else if (key == "placement") s.placement = parse_placement(value);
        else TRIDENT_FAIL("schedule line ", line_no, ": unknown key '", key, "' (use pp, v, micro_batches, placement)");
      }
      // Every stage has a line ("stageR: ACTION…", 6 characters at least), so the text bounds pp
      // before anything is allocated for the stages.
      TRIDENT_CHECK(static_cast<std::size_t>(s.pp) <= text.size() / 6, "schedule line ", line_no, ": pp=", s.pp,
                    " declares more stages than the ", text.size(), " characters of the schedule can list");
      s.stages.assign(static_cast<std::size_t>(s.pp), {});
      header = true;
      continue;
    }
    // "stageR:" (files written before the stage/chunk vocabulary say "rankR:", read the same).
    const std::size_t prefix = first.starts_with("stage") ? 5 : first.starts_with("rank") ? 4 : 0;
    TRIDENT_CHECK(prefix > 0 && first.ends_with(":"), "schedule line ", line_no,
                  ": expected 'stageR: ACTION ACTION …', got '", first, "'");
    int r = -1;
    try {
      r = std::stoi(first.substr(prefix, first.size() - prefix - 1));
    } catch (const std::exception&) {
    }
    TRIDENT_CHECK(r >= 0 && r < s.pp, "schedule line ", line_no, ": stage '", first, "' is outside [0, ", s.pp, ")");
    std::string tok;
    while (words >> tok) {
      try {
        s.stages[static_cast<std::size_t>(r)].push_back(parse_action(tok));
      } catch (const Error& e) {
        TRIDENT_FAIL("schedule line ", line_no, ": ", message_of(e));
      }
    }
  }
  TRIDENT_CHECK(header, "empty schedule: the first line must be 'schedule NAME pp=P v=V micro_batches=M'");
  return s;
}

Schedule Schedule::load(const std::string& path) {
  std::ifstream f(path);
  TRIDENT_CHECK(f.good(), "cannot open schedule file '", path, "'");
  std::stringstream buf;
  buf << f.rdbuf();
  try {
    return from_text(buf.str());
  } catch (const Error& e) {
    TRIDENT_FAIL(path, ": ", message_of(e));
  }
}

void Schedule::save(const std::string& path) const {
  const std::string text = to_text();
  write_file_atomically(path, {{text.data(), text.size()}}, "Schedule::save");
}

}  // namespace trident
