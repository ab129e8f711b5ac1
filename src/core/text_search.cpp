#include "core/text_search.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace ap {

size_t FindText(std::string_view text, std::string_view part, size_t from) {
  if (from > text.size()) return std::string_view::npos;
  if (part.empty()) return from;
  const char* s = text.data() + from;
  const size_t n = text.size() - from, k = part.size();
  if (n < k) return std::string_view::npos;
  size_t i = 0;
#if defined(__SSE2__)
  // The positions i..i+15 where the piece's first byte is at i and its last at i + k - 1.
  const __m128i first = _mm_set1_epi8(part.front()), last = _mm_set1_epi8(part.back());
  for (; i + k - 1 + 16 <= n; i += 16) {
    __m128i starts = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)), first);
    __m128i ends = _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + k - 1)), last);
    for (auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(starts, ends))); mask != 0;
         mask &= mask - 1) {
      size_t at = i + static_cast<size_t>(__builtin_ctz(mask));
      if (k <= 2 || std::memcmp(s + at + 1, part.data() + 1, k - 2) == 0) return from + at;
    }
  }
#endif
  for (; i + k <= n; ++i)
    if (s[i] == part.front() && std::memcmp(s + i, part.data(), k) == 0) return from + i;
  return std::string_view::npos;
}

}  // namespace ap
