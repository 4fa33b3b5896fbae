"""An invented catalogue in the Spotify CSV's shape, so BlueTrack runs before any download.

Deterministic by seed: the same seed and size give the same rows, byte for byte. It mimics
the real file where the import cares: all 114 genres, ``per_genre`` rows in each, about one
row in seven listing a track already listed under another genre (sometimes with another
popularity), a few repeated rows, several artists joined with ';', log-normal durations
around 3.5 minutes (30 s to 15 min), and audio features in the real ranges.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from bluetrack.catalogue.genres import GENRES

ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CROSS_LISTED = 0.15  # the real file: 16,299 of 89,741 tracks are in several genres
REPEATED = 0.004  # the real file: 450 rows repeat another row exactly
MEDIAN_MS = 210_000
SHORTEST_MS, LONGEST_MS = 30_000, 900_000

ADJECTIVES = (
    "Blue", "Golden", "Silent", "Electric", "Broken", "Wild", "Midnight", "Endless", "Velvet",
    "Hollow", "Burning", "Paper", "Neon", "Quiet", "Lonely", "Crimson", "Sweet", "Restless",
    "Frozen", "Distant", "Little", "Secret", "Bright", "Heavy", "Tender", "Savage", "Lucky",
)  # fmt: skip
NOUNS = (
    "Heart", "River", "Summer", "Streets", "Lights", "Dream", "Fire", "Rain", "Ocean", "Night",
    "Garden", "Mirror", "Highway", "Shadows", "Echo", "Storm", "Moon", "City", "Letters",
    "Horizon", "Skin", "Wolves", "Dance", "Tide", "Machine", "Sunday", "Diamonds", "Ghosts",
)  # fmt: skip
VERBS = (
    "Running", "Falling", "Waiting", "Dancing", "Dreaming", "Holding", "Chasing", "Burning",
    "Walking", "Calling", "Drifting", "Breaking",
)  # fmt: skip
FIRST_NAMES = (
    "Ana", "Leo", "Mia", "Jonas", "Sofia", "Kenji", "Amara", "Lucas", "Ines", "Mateo", "Yara",
    "Oskar", "Nina", "Tomas", "Aiko", "Rafael", "Zofia", "Elias", "Lena", "Omar", "Clara",
    "Hugo", "Maya", "Igor", "Noor", "Felix", "Alma", "Diego", "Selin", "Kofi",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Nowak", "Kim", "Okafor", "Larsen", "Moreau", "Tanaka", "Rossi", "Haddad",
    "Schmidt", "Costa", "Novak", "Reyes", "Berg", "Ivanova", "Mendes", "Walsh", "Kowalski",
    "Sato", "Fischer", "Duarte", "Lindqvist", "Adeyemi", "Petrov", "Navarro",
)  # fmt: skip
SUFFIXES = (" - Remastered 2011", " (Acoustic)", " - Live", " (feat. {artist})", " - Radio Edit")


@dataclass(frozen=True, slots=True)
class _Track:
    """The genre-independent columns of one invented track, already formatted."""

    track_id: str
    artists: str
    album: str
    name: str
    duration_ms: int
    explicit: bool
    popularity: int
    features: tuple[str, ...]


def generate_rows(seed: int, per_genre: int) -> Iterator[list[str]]:
    """Rows in the CSV's column order (index first, genre last), genre block by block."""
    rng = random.Random(seed)
    earlier: list[_Track] = []  # distinct tracks of the genres done so far
    known: set[str] = set()
    index = 0
    for genre in GENRES:
        artists = [_artist(rng) for _ in range(max(3, per_genre // 4))]
        block: dict[str, _Track] = {}
        for _ in range(per_genre):
            track = _pick(rng, block, earlier, artists)
            popularity = track.popularity
            if track.track_id in block or rng.random() < 0.05:
                popularity = _popularity(rng)  # the real file has such pairs too
            yield _row(index, track, popularity, genre)
            block.setdefault(track.track_id, track)
            index += 1
        fresh = [track for track_id, track in block.items() if track_id not in known]
        earlier.extend(fresh)
        known.update(track.track_id for track in fresh)


def _pick(
    rng: random.Random, block: dict[str, _Track], earlier: list[_Track], artists: list[str]
) -> _Track:
    roll = rng.random()
    if block and roll < REPEATED:
        return rng.choice(list(block.values()))  # the same track twice in one genre
    if earlier and roll < REPEATED + CROSS_LISTED:
        candidate = rng.choice(earlier)
        if candidate.track_id not in block:
            return candidate
    return _new_track(rng, artists)


def _row(index: int, track: _Track, popularity: int, genre: str) -> list[str]:
    return [
        str(index),
        track.track_id,
        track.artists,
        track.album,
        track.name,
        str(popularity),
        str(track.duration_ms),
        str(track.explicit),
        *track.features,
        genre,
    ]


def _new_track(rng: random.Random, artists: list[str]) -> _Track:
    lead = rng.choice(artists)
    credited = [lead, *rng.sample(artists, k=min(len(artists), rng.choice((0, 0, 0, 1, 2))))]
    credited = list(dict.fromkeys(credited))
    name = _title(rng)
    if rng.random() < 0.12:
        name += rng.choice(SUFFIXES).format(artist=rng.choice(artists))
    return _Track(
        track_id="".join(rng.choices(ID_ALPHABET, k=22)),
        artists=";".join(credited),
        album=name if rng.random() < 0.3 else _title(rng),  # singles share their title
        name=name,
        duration_ms=_duration_ms(rng),
        explicit=rng.random() < 0.086,  # 9,747 of 114,000 real rows
        popularity=_popularity(rng),
        features=_features(rng),
    )


def _title(rng: random.Random) -> str:
    pattern = rng.randrange(6)
    if pattern == 0:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if pattern == 1:
        return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if pattern == 2:
        return f"{rng.choice(NOUNS)} of the {rng.choice(NOUNS)}"
    if pattern == 3:
        return f"{rng.choice(VERBS)} {rng.choice(('Home', 'Away', 'Back', 'On'))}"
    if pattern == 4:
        return f"{rng.choice(VERBS)} Through the {rng.choice(NOUNS)}"
    return rng.choice(NOUNS)


def _artist(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _duration_ms(rng: random.Random) -> int:
    millis = rng.lognormvariate(math.log(MEDIAN_MS), 0.35)
    return int(min(max(millis, SHORTEST_MS), LONGEST_MS))


def _popularity(rng: random.Random) -> int:
    if rng.random() < 0.14:
        return 0  # the real file has a heap of zeros
    return int(min(max(rng.gauss(38, 18), 0), 100))


def _features(rng: random.Random) -> tuple[str, ...]:
    # Triangular and clipped normal shapes: close enough to the real histograms, and ten
    # times cheaper than beta variates (the generator runs on every `bluetrack up`).
    tri = rng.triangular
    instrumental = rng.random() < 0.3
    values: tuple[float | int, ...] = (
        round(tri(0.05, 0.98, 0.6), 3),  # danceability
        round(tri(0.02, 1.0, 0.75), 3),  # energy
        rng.randrange(12),  # key
        round(min(max(rng.gauss(-8.3, 4.5), -49.5), 4.5), 3),  # loudness
        int(rng.random() < 0.64),  # mode
        round(tri(0.022, 0.6, 0.04), 4),  # speechiness
        round(tri(0.0, 1.0, 0.02), 4),  # acousticness
        round(tri(0.1, 1.0, 0.9), 3) if instrumental else round(rng.random() * 1e-3, 7),
        round(tri(0.02, 0.99, 0.1), 4),  # liveness
        round(tri(0.0, 1.0, 0.45), 4),  # valence
        round(min(max(rng.gauss(122, 29), 40), 243), 3),  # tempo
        _time_signature(rng),
    )
    return tuple(map(str, values))


def _time_signature(rng: random.Random) -> int:
    roll = rng.random()
    return 4 if roll < 0.89 else 3 if roll < 0.97 else 5 if roll < 0.99 else 1
