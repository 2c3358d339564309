import { outputMemorySuite } from './output-memory-suite.js';

outputMemorySuite('embedded');
