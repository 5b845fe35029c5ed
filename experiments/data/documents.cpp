#include "experiments/data/documents.h"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <system_error>

#include "core/error.h"

namespace trident {

namespace {

bool only_whitespace(std::string_view s) { return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos; }

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TRIDENT_CHECK(in.is_open(), "cannot open ", path, ": ", std::generic_category().message(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TRIDENT_CHECK(!in.bad(), "cannot read ", path, ": ", std::generic_category().message(errno));
  return text;
}

std::vector<std::string> split_documents(std::string_view text, std::string_view separator_line) {
  std::vector<std::string> docs;
  std::size_t doc_begin = 0;  // start of the current document's first line
  auto finish = [&](std::size_t end) {  // the document is text[doc_begin, end), end excluding its last '\n'
    std::string_view doc = text.substr(doc_begin, end - doc_begin);
    if (!doc.empty() && doc.back() == '\n') doc.remove_suffix(1);
    if (!only_whitespace(doc)) docs.emplace_back(doc);
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    const std::size_t line_end = nl == std::string_view::npos ? text.size() : nl;
    std::string_view line = text.substr(pos, line_end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::size_t next = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line == separator_line) {
      finish(pos);
      doc_begin = next;
    }
    pos = next;
  }
  if (doc_begin < text.size()) finish(text.size());
  return docs;
}

}  // namespace trident
