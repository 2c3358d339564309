import { pipelineSuite } from './pipeline-suite.js';

pipelineSuite('postgres+nats');
