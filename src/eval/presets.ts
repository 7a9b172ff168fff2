/**
 * Dataset presets: the layouts of public datasets the harness knows without a column mapping.
 *
 * - movielens: a MovieLens directory (ratings.csv, movies.csv); ratings at or above a threshold are
 *   positives ("Product Viewed"), the rest are dropped; movies become the catalog (title → name,
 *   first genre → category, every genre → tags).
 * - session-rec: the tab-separated `SessionId ItemId Time` files of the rn5l/session-rec framework's
 *   prepared data (Time in epoch seconds); every session is an anonymous person.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CatalogEntry, Dataset, Interaction } from './dataset.ts';
import { readInteractions, readRecords, TableError } from './read-table.ts';

export const PRESETS = ['movielens', 'session-rec'] as const;
export type Preset = (typeof PRESETS)[number];

export const MOVIELENS_LICENCE =
  'MovieLens data © GroupLens Research, University of Minnesota: research use only, redistribution under the ' +
  'same terms (see the dataset\'s README.txt). F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens ' +
  'Datasets: History and Context. ACM TiiS 5(4). https://doi.org/10.1145/2827872';

const NO_GENRES = '(no genres listed)';

export async function readMovieLens(dir: string, minRating = 4): Promise<Dataset> {
  const ratings = join(dir, 'ratings.csv');
  if (!existsSync(ratings)) throw new TableError(`${dir} has no ratings.csv (expected a MovieLens directory)`);
  const interactions = await readInteractions(ratings, {
    delimiter: ',',
    columns: { user: 'userId', item: 'movieId', time: 'timestamp', rating: 'rating' },
    minRating,
  });
  const catalog: CatalogEntry[] = [];
  const movies = join(dir, 'movies.csv');
  if (existsSync(movies)) {
    for await (const r of readRecords(movies, ',')) {
      const genres = (r.genres ?? '').split('|').filter((g) => g !== '' && g !== NO_GENRES);
      catalog.push({
        itemId: r.movieId ?? '',
        properties: { ...(r.title ? { name: r.title } : {}), ...(genres[0] ? { category: genres[0] } : {}), tags: genres },
      });
    }
  }
  return { name: `movielens:${basename(dir)}`, interactions, catalog, licence: MOVIELENS_LICENCE };
}

export function readSessionRec(file: string): Promise<Interaction[]> {
  return readInteractions(file, { delimiter: '\t', columns: { session: 'SessionId', item: 'ItemId', time: 'Time' } });
}
